// `closewise proxy --listen HOST:PORT --upstream URL`: a WebSocket gateway that
// keeps the close-code contract (docs/proxy.md).
#include <fmt/format.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <closewise/close_event.hpp>
#include <closewise/net/relay.hpp>
#include <closewise/net/server.hpp>
#include <nlohmann/json.hpp>

#include <chrono>
#include <csignal>
#include <memory>
#include <optional>
#include <string>

#include "commands.hpp"
#include "output.hpp"

namespace closewise::cli {
namespace {

struct proxy_opts {
  std::string listen;
  std::string upstream;
  bool json = false;
  std::size_t max_message = std::size_t{16} << 20;
  std::size_t high_water = std::size_t{1} << 20;
  unsigned upstream_timeout_ms = 10000;
  std::string upstream_ca;
  bool upstream_insecure = false;
  std::optional<std::size_t> max_connections;
  bool shed_1013 = false;
  std::optional<unsigned> retry_after;
  unsigned drain_ms = 3000;
};

struct host_port {
  std::string host;
  std::uint16_t port = 0;
};

/// HOST:PORT, with an IPv6 literal in brackets ([::1]:8080).
std::optional<host_port> parse_listen(const std::string& s) {
  const auto colon = s.rfind(':');
  if (colon == std::string::npos || colon + 1 == s.size()) return std::nullopt;
  host_port hp;
  hp.host = s.substr(0, colon);
  if (hp.host.size() >= 2 && hp.host.front() == '[' && hp.host.back() == ']')
    hp.host = hp.host.substr(1, hp.host.size() - 2);
  if (hp.host.empty()) return std::nullopt;
  unsigned long port = 0;
  for (char c : s.substr(colon + 1)) {
    if (c < '0' || c > '9') return std::nullopt;
    port = port * 10 + static_cast<unsigned long>(c - '0');
    if (port > 65535) return std::nullopt;
  }
  hp.port = static_cast<std::uint16_t>(port);
  return hp;
}

net::server_config server_config_for(const proxy_opts& o) {
  net::server_config cfg;
  cfg.use_strand = false;  // one thread runs this io_context
  cfg.protocol.max_message = o.max_message;
  cfg.protocol.max_frame = o.max_message;
  // Room for one largest message above the backpressure bound, so a relayed
  // message is never refused (the relay pauses the other side first).
  cfg.max_buffered = o.max_message + o.high_water + 4096;
  if (o.max_connections) {
    cfg.max_connections = *o.max_connections;
    cfg.on_overload =
        o.shed_1013 ? net::overload_action::close_1013 : net::overload_action::http_503;
    cfg.overload_retry_after = std::chrono::seconds(o.retry_after.value_or(5));
  }
  return cfg;
}

net::relay_config relay_config_for(const proxy_opts& o) {
  net::relay_config rc;
  rc.upstream = o.upstream;
  rc.high_water = o.high_water;
  auto& c = rc.upstream_client;
  c.use_strand = false;
  c.protocol.max_message = o.max_message;
  c.protocol.max_frame = o.max_message;
  c.max_buffered = o.max_message + o.high_water + 4096;
  c.connect_timeout = std::chrono::milliseconds(o.upstream_timeout_ms);
  c.handshake_timeout = std::chrono::milliseconds(o.upstream_timeout_ms);
  c.tls.ca_file = o.upstream_ca;
  c.tls.verify = !o.upstream_insecure;
  return rc;
}

nlohmann::json stats_json(const net::relay_stats& s) {
  return {{"relayed", s.pairs},
          {"active", s.active},
          {"upstream_failed", s.upstream_failed},
          {"to_upstream", s.to_upstream},
          {"to_client", s.to_client},
          {"dropped", s.dropped},
          {"client_pauses", s.client_pauses},
          {"upstream_pauses", s.upstream_pauses}};
}

/// Ends the process on SIGTERM/SIGINT (1001 to clients) or SIGHUP (1012):
/// upstreams get 1001, both sides are drained, then the summary is printed.
class proxy_shutdown {
 public:
  proxy_shutdown(boost::asio::io_context& ioc, net::server& srv, net::relay& rel,
                 const event_printer& out, unsigned drain_ms)
      : ioc_(ioc), srv_(srv), rel_(rel), out_(out), drain_ms_(drain_ms) {}

  void begin(int sig) {
    const bool restart = sig == SIGHUP;
    out_.diag(fmt::format("closewise proxy: shutting down with {}", restart ? 1012 : 1001));
    rel_.shutdown("proxy shutting down", [this] { part_done(); });
    net::shutdown_options so;
    so.code = restart ? close_code::service_restart : close_code::going_away;
    so.reason = restart ? "proxy restarting" : "proxy shutting down";
    so.drain_deadline = std::chrono::milliseconds(drain_ms_);
    srv_.shutdown(so, [this](const net::shutdown_summary& sum) {
      sum_ = sum;
      part_done();
    });
  }

 private:
  void part_done() {
    if (++parts_ < 2) return;
    const auto st = rel_.stats();
    auto j = stats_json(st);
    j["event"] = "summary";
    j["shed"] = srv_.shed_count();
    j["shutdown"] = {{"open", sum_.total},
                     {"clean", sum_.clean},
                     {"aborted", sum_.aborted},
                     {"failed", sum_.failed},
                     {"elapsed_ms", sum_.elapsed.count()}};
    out_.emit(j, fmt::format("relayed {} connection(s): {} upstream failure(s) (1014), {} -> "
                             "upstream and {} -> client message(s), {} dropped; {} shed; at "
                             "shutdown {} open: {} closed cleanly, {} aborted, {} failed",
                             st.pairs, st.upstream_failed, st.to_upstream, st.to_client, st.dropped,
                             srv_.shed_count(), sum_.total, sum_.clean, sum_.aborted, sum_.failed));
    ioc_.stop();
  }

  boost::asio::io_context& ioc_;
  net::server& srv_;
  net::relay& rel_;
  const event_printer& out_;
  unsigned drain_ms_;
  int parts_ = 0;
  net::shutdown_summary sum_;
};

void watch_stats_signal(boost::asio::signal_set& s, const net::relay& rel,
                        const event_printer& out) {
  s.async_wait([&s, &rel, &out](const boost::system::error_code& ec, int) {
    if (ec) return;
    auto j = stats_json(rel.stats());
    j["event"] = "stats";
    out.emit(j, fmt::format("stats: {}", j.dump()));
    watch_stats_signal(s, rel, out);
  });
}

int run_proxy(const proxy_opts& o) {
  const event_printer out(o.json);
  const auto where = parse_listen(o.listen);
  if (!where) {
    out.diag(fmt::format("closewise proxy: --listen {}: expected HOST:PORT", o.listen));
    return 2;
  }
  boost::asio::io_context ioc(1);
  net::server srv(ioc, server_config_for(o));
  net::relay rel(ioc, srv, relay_config_for(o));
  if (const auto ec = rel.validate()) {
    out.diag(fmt::format("closewise proxy: --upstream {}: {}", o.upstream, ec.message()));
    return 2;
  }
  // Installed before the listening line, so a script may signal as soon as it read the port.
  proxy_shutdown stopper(ioc, srv, rel, out, o.drain_ms);
  boost::asio::signal_set stop_signals(ioc, SIGINT, SIGTERM, SIGHUP);
  stop_signals.async_wait([&](const boost::system::error_code& ec, int sig) {
    if (!ec) stopper.begin(sig);
  });
  boost::asio::signal_set stats_signal(ioc, SIGUSR1);
  watch_stats_signal(stats_signal, rel, out);

  if (const auto ec = srv.listen(where->host, where->port)) {
    out.diag(fmt::format("closewise proxy: cannot listen on {}: {}", o.listen, ec.message()));
    return 1;
  }
  // Always the first line on stdout, like serve's, so --listen HOST:0 can be read back.
  out.emit(
      {{"event", "listening"},
       {"host", where->host},
       {"port", srv.port()},
       {"tls", false},
       {"upstream", o.upstream}},
      fmt::format("listening on ws://{}:{}/, relaying to {}", where->host, srv.port(), o.upstream));
  ioc.run();
  return 0;
}

}  // namespace

runner add_proxy_command(CLI::App& app) {
  auto o = std::make_shared<proxy_opts>();
  auto* cmd = app.add_subcommand(
      "proxy", "Relay WebSocket clients to an upstream, keeping close codes (1014 on failure)");
  cmd->footer(
      "Each client gets its own upstream connection to --upstream, whose path is a prefix of the "
      "client's path (ws://up/base + /a?x=1 -> ws://up/base/a?x=1). Close codes and reasons pass "
      "both ways exactly; an upstream that refuses, times out, answers other than 101 or ends "
      "without a close frame gets the client closed with 1014 and a reason saying which. The "
      "first line on stdout is {\"event\":\"listening\",...,\"port\":N}. SIGTERM/SIGINT: 1001 to "
      "clients, SIGHUP: 1012; upstreams get 1001; then a summary line and exit 0. SIGUSR1 "
      "prints the counters ({\"event\":\"stats\",...}).");
  cmd->add_option("--listen", o->listen, "HOST:PORT to listen on (port 0 picks a free one)")
      ->required();
  cmd->add_option("--upstream", o->upstream, "ws:// or wss:// URL of the upstream server")
      ->required();
  cmd->add_flag("--json", o->json, "One JSON object per event and line on stdout");
  cmd->add_option("--max-message", o->max_message, "Largest message relayed, in bytes (1009 above)")
      ->capture_default_str()
      ->check(CLI::Range(std::size_t{1}, std::size_t{1} << 30));
  cmd->add_option("--high-water", o->high_water,
                  "Stop reading one side while this many bytes wait to be written to the other")
      ->capture_default_str()
      ->check(CLI::Range(std::size_t{1024}, std::size_t{1} << 30));
  cmd->add_option("--upstream-timeout-ms", o->upstream_timeout_ms,
                  "Upstream TCP connect and upgrade each must finish within this (1014 \"upstream "
                  "timeout\")")
      ->capture_default_str()
      ->check(CLI::Range(1u, 600000u));
  cmd->add_option("--upstream-ca", o->upstream_ca, "PEM CA file to verify a wss:// upstream")
      ->check(CLI::ExistingFile);
  cmd->add_flag("--upstream-insecure", o->upstream_insecure,
                "Do not verify a wss:// upstream's certificate (tests only)");
  auto* max_conn =
      cmd->add_option("--max-connections", o->max_connections,
                      "Shed clients beyond N (503 + Retry-After, or 1013 with --shed-1013)")
          ->check(CLI::Range(std::size_t{1}, std::size_t{1000000}));
  cmd->add_flag("--shed-1013", o->shed_1013,
                "At --max-connections, accept then close with 1013 \"retry-after=S\"")
      ->needs(max_conn);
  cmd->add_option("--retry-after", o->retry_after, "Retry-After seconds for --max-connections")
      ->needs(max_conn)
      ->check(CLI::Range(0u, 86400u));
  cmd->add_option("--drain-ms", o->drain_ms,
                  "On SIGTERM/SIGHUP, abort connections still closing after this")
      ->capture_default_str()
      ->check(CLI::Range(1u, 600000u));
  return [o] { return run_proxy(*o); };
}

}  // namespace closewise::cli
