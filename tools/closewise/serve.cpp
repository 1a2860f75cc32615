// `closewise serve --port PORT ...`: a WebSocket server for testing clients (ARCHITECTURE §5).
#include <fmt/format.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <closewise/close_event.hpp>
#include <closewise/error.hpp>
#include <closewise/net/server.hpp>
#include <closewise/net/session.hpp>

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "commands.hpp"
#include "output.hpp"

namespace closewise::cli {
namespace {

struct serve_opts {
  std::uint16_t port = 0;
  std::string host = "127.0.0.1";
  bool echo = false;
  std::size_t max_message = std::size_t{64} << 20;
  bool json = false;
  std::optional<unsigned> close_after_ms;
  unsigned code = 1000;
  std::string reason;
  std::optional<unsigned> reject_status;
  std::optional<unsigned> retry_after;
  std::string tls_cert, tls_key;
  std::optional<std::size_t> max_connections;
  bool shed_1013 = false;
};

int run_serve(const serve_opts& o) {
  const event_printer out(o.json);
  const auto code = static_cast<close_code>(o.code);
  if (const auto ec = validate_endpoint_close(code, o.reason)) {
    out.diag(fmt::format("closewise serve: --code {} --reason: {}", o.code, ec.message()));
    return 2;
  }
  if (o.tls_cert.empty() != o.tls_key.empty()) {
    out.diag("closewise serve: --tls-cert and --tls-key go together");
    return 2;
  }

  boost::asio::io_context ioc(1);
  net::server_config cfg;
  cfg.use_strand = false;  // one thread runs this io_context
  cfg.protocol.max_message = o.max_message;
  cfg.protocol.max_frame = o.max_message;
  cfg.max_buffered = o.max_message + 4096;
  if (o.max_connections) {
    cfg.max_connections = *o.max_connections;
    cfg.on_overload = o.shed_1013 ? net::overload_action::close_1013 : net::overload_action::http_503;
    cfg.overload_retry_after = std::chrono::seconds(o.retry_after.value_or(5));
  }
  if (!o.tls_cert.empty()) cfg.tls = net::tls_server_options{o.tls_cert, o.tls_key, nullptr};
  net::server srv(ioc, cfg);

  std::map<std::uint64_t, std::unique_ptr<boost::asio::steady_timer>> close_timers;

  srv.on_connect([&](const proto::upgrade_request&) {
    if (o.reject_status) {
      proto::http_headers h;
      if (o.retry_after) h.fields.emplace_back("Retry-After", std::to_string(*o.retry_after));
      return net::accept_decision::refused(*o.reject_status, std::move(h),
                                           fmt::format("refused by closewise serve --reject-status {}\n", *o.reject_status));
    }
    return net::accept_decision::accepted();
  });
  srv.on_open([&](net::session& s) {
    const auto& req = s.request();
    out.emit({{"event", "open"}, {"id", s.id()}, {"path", req.target},
              {"remote", fmt::format("{}:{}", s.remote_endpoint().address().to_string(), s.remote_endpoint().port())}},
             fmt::format("open #{} {} from {}:{}", s.id(), req.target, s.remote_endpoint().address().to_string(),
                         s.remote_endpoint().port()));
    if (o.close_after_ms) {
      auto t = std::make_unique<boost::asio::steady_timer>(ioc, std::chrono::milliseconds(*o.close_after_ms));
      t->async_wait([h = s.shared(), code, &o](const boost::system::error_code& ec) {
        if (!ec) (void)h->close_endpoint(code, o.reason);
      });
      close_timers.emplace(s.id(), std::move(t));
    }
  });
  srv.on_message([&](net::session& s, proto::message_kind kind, std::string_view data) {
    if (kind == proto::message_kind::text)
      out.emit({{"event", "message"}, {"id", s.id()}, {"type", "text"}, {"size", data.size()}},
               fmt::format("< #{} text, {} bytes", s.id(), data.size()));
    else
      out.emit({{"event", "message"}, {"id", s.id()}, {"type", "binary"}, {"size", data.size()}},
               fmt::format("< #{} binary, {} bytes", s.id(), data.size()));
    if (o.echo) (void)s.send(kind, data);
  });
  srv.on_close([&](net::session& s, const close_event& ev) {
    close_timers.erase(s.id());
    auto j = event_printer::close_json(ev);
    j["id"] = s.id();
    out.emit(j, fmt::format("#{} {}", s.id(), event_printer::describe_close(ev)));
  });

  if (const auto ec = srv.listen(o.host, o.port)) {
    out.diag(fmt::format("closewise serve: cannot listen on {}:{}: {}", o.host, o.port, ec.message()));
    return 1;
  }
  out.emit({{"event", "listening"}, {"host", o.host}, {"port", srv.port()}, {"tls", !o.tls_cert.empty()}},
           fmt::format("listening on {}://{}:{}/", o.tls_cert.empty() ? "ws" : "wss", o.host, srv.port()));

  // SIGTERM/SIGINT: a graceful shutdown with 1001 to every client.
  boost::asio::signal_set signals(ioc, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code& ec, int) {
    if (ec) return;
    out.diag("closewise serve: shutting down with 1001");
    close_timers.clear();
    net::shutdown_options so;
    so.code = close_code::going_away;
    so.reason = "server shutting down";
    so.drain_deadline = std::chrono::seconds(3);
    srv.shutdown(so, [&](const net::shutdown_summary& sum) {
      out.diag(fmt::format("closewise serve: {} connection(s): {} closed cleanly, {} aborted, {} failed",
                           sum.total, sum.clean, sum.aborted, sum.failed));
      ioc.stop();
    });
  });

  ioc.run();
  return 0;
}

}  // namespace

runner add_serve_command(CLI::App& app) {
  auto o = std::make_shared<serve_opts>();
  auto* cmd = app.add_subcommand("serve", "Run a WebSocket server (any path, many connections)");
  cmd->add_option("--port", o->port, "Port to listen on (0: any free port)")->required()->check(CLI::Range(0, 65535));
  cmd->add_option("--host", o->host, "Address to listen on")->capture_default_str();
  cmd->add_flag("--echo", o->echo, "Send every text or binary message back unchanged");
  cmd->add_option("--max-message", o->max_message, "Largest message accepted, in bytes (1009 above)")
      ->capture_default_str()
      ->check(CLI::Range(std::size_t{1}, std::size_t{1} << 30));
  cmd->add_flag("--json", o->json, "One JSON object per event and line on stdout");
  cmd->add_option("--close-after-ms", o->close_after_ms, "Close each connection this long after it opens")
      ->check(CLI::Range(0u, 86400000u));
  cmd->add_option("--code", o->code, "Close code for --close-after-ms")->check(CLI::Range(0u, 65535u));
  cmd->add_option("--reason", o->reason, "Close reason for --close-after-ms (at most 123 bytes)");
  cmd->add_option("--reject-status", o->reject_status, "Refuse every upgrade with this HTTP status")
      ->check(CLI::Range(400u, 599u));
  cmd->add_option("--retry-after", o->retry_after, "Retry-After seconds for --reject-status / load shedding")
      ->check(CLI::Range(0u, 86400u));
  cmd->add_option("--tls-cert", o->tls_cert, "PEM certificate chain (wss)")->check(CLI::ExistingFile);
  cmd->add_option("--tls-key", o->tls_key, "PEM private key (wss)")->check(CLI::ExistingFile);
  cmd->add_option("--max-connections", o->max_connections,
                  "Shed connections beyond N (503 + Retry-After, or 1013 with --shed-1013)")
      ->check(CLI::Range(std::size_t{1}, std::size_t{1000000}));
  cmd->add_flag("--shed-1013", o->shed_1013,
                "At --max-connections, accept then close with 1013 \"retry-after=S\" instead of 503");
  return [o] { return run_serve(*o); };
}

}  // namespace closewise::cli
