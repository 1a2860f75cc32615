// `closewise connect URL ...`: a reconnecting client on stdin/stdout (ARCHITECTURE §5).
#include <fmt/format.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <closewise/error.hpp>
#include <closewise/net/reconnecting_client.hpp>
#include <closewise/policy/json.hpp>
#include <closewise/policy/presets.hpp>
#include <openssl/evp.h>

#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "commands.hpp"
#include "output.hpp"

namespace closewise::cli {
namespace {

struct connect_opts {
  std::string url;
  bool echo = false;
  std::string reconnect = "default";
  bool json = false;
  std::optional<std::uint32_t> max_attempts;
  std::vector<std::string> headers;
  std::vector<std::string> subprotocols;
  std::string ca_file;
  bool insecure = false;
  bool close_on_eof = false;
};

std::string base64(std::string_view in) {
  // OpenSSL's encoder, as the handshake uses: nothing hand-written.
  std::string out(4 * ((in.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(in.data()), static_cast<int>(in.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

/// Builds the policy from --reconnect and --max-attempts; nullopt after printing an error.
std::optional<policy::config> make_policy(const connect_opts& o, const event_printer& out) {
  std::optional<policy::config> cfg = policy::preset(o.reconnect);
  if (!cfg) {
    const auto loaded = policy::load_policy_file(o.reconnect);
    if (!loaded.policy) {
      out.diag(fmt::format("closewise connect: --reconnect {}: not a preset (default, never, always, "
                           "centrifugo, discord) and not a readable policy file: {}",
                           o.reconnect, loaded.message));
      return std::nullopt;
    }
    cfg = *loaded.policy;
  }
  if (o.max_attempts) cfg->max_attempts = *o.max_attempts;
  return cfg;
}

int run_connect(const connect_opts& o) {
  const event_printer out(o.json);
  auto pol = make_policy(o, out);
  if (!pol) return 2;

  net::reconnecting_client_config cfg;
  cfg.policy = std::move(*pol);
  for (const auto& h : o.headers) {
    const auto colon = h.find(':');
    if (colon == std::string::npos || colon == 0) {
      out.diag(fmt::format("closewise connect: --header '{}': expected NAME:VALUE", h));
      return 2;
    }
    std::string value = h.substr(colon + 1);
    while (!value.empty() && value.front() == ' ') value.erase(0, 1);
    cfg.connection.extra_headers.fields.emplace_back(h.substr(0, colon), value);
  }
  cfg.connection.subprotocols = o.subprotocols;
  cfg.connection.tls.ca_file = o.ca_file;
  cfg.connection.tls.verify = !o.insecure;

  boost::asio::io_context ioc;
  auto client = std::make_unique<net::reconnecting_client>(ioc, cfg);
  int exit_code = 1;
  std::optional<close_event> last_close;
  auto finish = [&](int code) {
    exit_code = code;
    ioc.stop();
  };

  client->on_open([&](const net::open_info& info) {
    nlohmann::json j{{"event", "open"}, {"url", o.url}};
    if (!info.subprotocol.empty()) j["subprotocol"] = info.subprotocol;
    out.emit(j, info.subprotocol.empty() ? fmt::format("open {}", o.url)
                                         : fmt::format("open {} (subprotocol {})", o.url, info.subprotocol));
  });
  client->on_message([&](proto::message_kind kind, std::string_view data) {
    if (kind == proto::message_kind::text) {
      out.emit({{"event", "message"}, {"type", "text"}, {"data", data}}, fmt::format("< {}", data));
    } else {
      out.emit({{"event", "message"}, {"type", "binary"}, {"size", data.size()}, {"data_base64", base64(data)}},
               fmt::format("< [binary, {} bytes]", data.size()));
    }
    if (o.echo) (void)client->send(kind, data);
  });
  client->on_error([&](std::error_code ec) {
    out.emit({{"event", "error"}, {"error", ec.message()}}, fmt::format("error: {}", ec.message()));
  });
  client->on_close([&](const close_event& ev) {
    last_close = ev;
    out.emit(event_printer::close_json(ev), event_printer::describe_close(ev));
    // After the application's own close nothing else follows: exit now.
    if (client->get_state() == net::reconnect_state::stopped) finish(ev.was_clean ? 0 : 1);
  });
  client->on_reconnect_scheduled([&](std::uint32_t attempt, std::chrono::milliseconds delay, const std::string& cause) {
    out.emit({{"event", "reconnect_scheduled"}, {"attempt", attempt}, {"delay_ms", delay.count()}, {"cause", cause}},
             fmt::format("reconnecting in {} (attempt {}, cause {})", event_printer::seconds(delay), attempt, cause));
  });
  client->on_give_up([&](const net::give_up_summary& s) {
    out.emit({{"event", "give_up"}, {"reason", s.reason}, {"attempts", s.attempts}},
             fmt::format("stopping: {}", s.reason));
    finish(last_close && last_close->was_clean ? 0 : 1);
  });
  client->on_undelivered([&](std::vector<net::queued_message> msgs, std::error_code ec) {
    out.diag(fmt::format("closewise connect: {} message(s) not delivered: {}", msgs.size(), ec.message()));
  });

  if (const auto ec = client->connect(o.url)) {
    out.diag(fmt::format("closewise connect: {}: {}", o.url, ec.message()));
    return 2;
  }

  boost::asio::signal_set signals(ioc, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code& ec, int) {
    if (ec) return;
    if (client->close(close_code::normal, "interrupted")) finish(1);
  });

  // stdin lines become text messages; the reader thread only posts to the io_context.
  std::thread reader([&ioc, &client, close_on_eof = o.close_on_eof] {
    std::string line;
    while (std::getline(std::cin, line)) {
      boost::asio::post(ioc, [&client, line] { (void)client->send_text(line); });
    }
    if (close_on_eof) boost::asio::post(ioc, [&client] { (void)client->close(close_code::normal, "stdin closed"); });
  });
  reader.detach();

  ioc.run();
  client.reset();
  std::fflush(stdout);
  // The reader thread may still block on stdin; leave without joining it.
  std::_Exit(exit_code);
}

}  // namespace

runner add_connect_command(CLI::App& app) {
  auto o = std::make_shared<connect_opts>();
  auto* cmd = app.add_subcommand("connect", "Connect to a WebSocket server; stdin lines are sent as text");
  cmd->add_option("URL", o->url, "ws:// or wss:// URL")->required();
  cmd->add_flag("--echo", o->echo, "Send every received message back");
  cmd->add_option("--reconnect", o->reconnect, "default|never|always|centrifugo|discord|FILE.json")
      ->capture_default_str();
  cmd->add_flag("--json", o->json, "One JSON object per event and line on stdout");
  cmd->add_option("--max-attempts", o->max_attempts, "Give up after N retries")->check(CLI::Range(0u, 1000000u));
  cmd->add_option("--header", o->headers, "Extra request header NAME:VALUE (repeatable)");
  cmd->add_option("--subprotocol", o->subprotocols, "Offer a subprotocol (repeatable)");
  cmd->add_option("--ca-file", o->ca_file, "PEM file of CA certificates to trust for wss://")
      ->check(CLI::ExistingFile);
  cmd->add_flag("--insecure", o->insecure, "Do not verify the server's certificate (testing only)");
  cmd->add_flag("--close-on-eof", o->close_on_eof, "Close with 1000 when stdin ends");
  return [o] { return run_connect(*o); };
}

}  // namespace closewise::cli
