// `closewise connect URL ...`: a reconnecting client on stdin/stdout (ARCHITECTURE §5).
#include <fmt/format.h>

#include <openssl/evp.h>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <closewise/error.hpp>
#include <closewise/net/reconnecting_client.hpp>
#include <closewise/policy/json.hpp>
#include <closewise/policy/presets.hpp>

#include <functional>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "close_request.hpp"
#include "commands.hpp"
#include "output.hpp"
#include "resume_option.hpp"
#include "stdin_line.hpp"

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
  std::uint32_t close_code = 1000;
  std::string close_reason;
  bool slash = false;
  // --- resume (issue 13) ---
  bool resume = false;
};

std::string base64(std::string_view in) {
  // OpenSSL's encoder, as the handshake uses: nothing hand-written.
  std::string out(4 * ((in.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(in.data()),
                                static_cast<int>(in.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

/// Builds the policy from --reconnect and --max-attempts; nullopt after printing an error.
std::optional<policy::config> make_policy(const connect_opts& o, const event_printer& out) {
  std::optional<policy::config> cfg = policy::preset(o.reconnect);
  if (!cfg) {
    const auto loaded = policy::load_policy_file(o.reconnect);
    if (!loaded.policy) {
      out.diag(
          fmt::format("closewise connect: --reconnect {}: not a preset (default, never, always, "
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
  if (auto p = close_code_problem(o.close_code, close_sender::client); !p.empty()) {
    out.diag(fmt::format("closewise connect: --close-code {}: {}", o.close_code, p));
    return 2;
  }
  if (auto p = close_reason_problem(o.close_reason); !p.empty()) {
    out.diag(fmt::format("closewise connect: --close-reason: {}", p));
    return 2;
  }
  const close_request eof_close{static_cast<close_code>(o.close_code), o.close_reason};
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
  if (o.resume) cfg.resume = resume::session_settings{};

  // Everything below runs on this thread: ioc.run() is the only runner, and the
  // stdin reader only posts to it.
  boost::asio::io_context ioc;
  auto client = std::make_unique<net::reconnecting_client>(ioc, cfg);
  int exit_code = 1;
  std::optional<close_event> last_close;
  // A close asked for (stdin EOF, /close) before a connection is open waits for
  // the open: lines read before it are queued and must go out first, and a
  // close() now would cancel the attempt with no event at all.
  std::optional<close_request> pending_close;
  auto finish = [&](int code) {
    exit_code = code;
    ioc.stop();
  };
  auto start_close = [&](const close_request& r) {
    if (const auto ec = client->close(r.code, r.reason)) {
      out.diag(fmt::format("closewise connect: cannot close: {}", ec.message()));
    }
  };
  auto request_close = [&](const close_request& r) {
    switch (client->get_state()) {
      case net::reconnect_state::open:
        start_close(r);
        break;
      case net::reconnect_state::idle:
      case net::reconnect_state::connecting:
      case net::reconnect_state::waiting:
        if (!pending_close) pending_close = r;
        break;
      case net::reconnect_state::closing:
      case net::reconnect_state::stopped:
        break;  // already on the way out
    }
  };

  client->on_open([&](const net::open_info& info) {
    nlohmann::json j{{"event", "open"}, {"url", o.url}};
    if (!info.subprotocol.empty()) j["subprotocol"] = info.subprotocol;
    out.emit(j, info.subprotocol.empty()
                    ? fmt::format("open {}", o.url)
                    : fmt::format("open {} (subprotocol {})", o.url, info.subprotocol));
    // close() drains the queue first, so lines read before the close still go out.
    if (pending_close) {
      const close_request r = *std::exchange(pending_close, std::nullopt);
      start_close(r);
    }
  });
  client->on_message([&](proto::message_kind kind, std::string_view data) {
    if (kind == proto::message_kind::text) {
      out.emit({{"event", "message"}, {"type", "text"}, {"data", data}}, fmt::format("< {}", data));
    } else {
      out.emit({{"event", "message"},
                {"type", "binary"},
                {"size", data.size()},
                {"data_base64", base64(data)}},
               fmt::format("< [binary, {} bytes]", data.size()));
    }
    if (!o.echo) return;
    if (const auto ec = client->send(kind, data))
      out.diag(fmt::format("closewise connect: a message was not echoed: {}", ec.message()));
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
  client->on_reconnect_scheduled(
      [&](std::uint32_t attempt, std::chrono::milliseconds delay, const std::string& cause) {
        out.emit({{"event", "reconnect_scheduled"},
                  {"attempt", attempt},
                  {"delay_ms", delay.count()},
                  {"cause", cause}},
                 fmt::format("reconnecting in {} (attempt {}, cause {})",
                             event_printer::seconds(delay), attempt, cause));
      });
  client->on_give_up([&](const net::give_up_summary& s) {
    out.emit({{"event", "give_up"}, {"reason", s.reason}, {"attempts", s.attempts}},
             fmt::format("stopping: {}", s.reason));
    finish(last_close && last_close->was_clean ? 0 : 1);
  });
  client->on_resume([&](const resume::client_outcome& r) {
    const auto j = resume_json(r);
    out.emit(j, describe_resume(j));
  });
  client->on_undelivered([&](std::vector<net::queued_message> msgs, std::error_code ec) {
    out.diag(fmt::format("closewise connect: {} message(s) not delivered: {}", msgs.size(),
                         ec.message()));
  });

  if (const auto ec = client->connect(o.url)) {
    out.diag(fmt::format("closewise connect: {}: {}", o.url, ec.message()));
    return 2;
  }

  // SIGTERM/SIGINT: close with 1000 when open; stop at once otherwise (there
  // is nothing to close, and no event follows a stop the application asked for).
  // A second signal leaves without waiting for the close handshake.
  boost::asio::signal_set signals(ioc, SIGINT, SIGTERM);
  bool interrupted = false;
  std::function<void(const boost::system::error_code&, int)> on_signal =
      [&](const boost::system::error_code& ec, int) {
        if (ec) return;
        if (interrupted) return finish(1);
        interrupted = true;
        signals.async_wait(on_signal);
        if (client->get_state() == net::reconnect_state::open) {
          start_close({close_code::normal, "interrupted"});
          return;
        }
        (void)client->close();
        if (client->get_state() == net::reconnect_state::stopped) {
          out.diag("closewise connect: interrupted before a connection was open");
          finish(1);
        }
      };
  signals.async_wait(on_signal);

  // stdin lines become text messages (or commands with --slash); the reader
  // thread only posts to the io_context, so they are handled in order.
  auto on_line = [&](const std::string& line) {
    const stdin_line l = parse_stdin_line(line, o.slash);
    switch (l.what) {
      case stdin_line::kind::text:
        if (const auto ec = client->send_text(l.text))
          out.diag(fmt::format("closewise connect: a line was not sent: {}", ec.message()));
        break;
      case stdin_line::kind::close:
        request_close(l.close);
        break;
      case stdin_line::kind::invalid:
        out.diag(fmt::format("closewise connect: {}: {}", line, l.problem));
        break;
    }
  };
  std::thread reader([&ioc, &on_line, &request_close, &eof_close, close_on_eof = o.close_on_eof] {
    std::string line;
    while (std::getline(std::cin, line)) {
      boost::asio::post(ioc, [&on_line, line] { on_line(line); });
    }
    if (close_on_eof)
      boost::asio::post(ioc, [&request_close, &eof_close] { request_close(eof_close); });
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
  auto* cmd =
      app.add_subcommand("connect", "Connect to a WebSocket server; stdin lines are sent as text");
  cmd->add_option("URL", o->url, "ws:// or wss:// URL")->required();
  cmd->add_flag("--echo", o->echo, "Send every received message back");
  cmd->add_option("--reconnect", o->reconnect, "default|never|always|centrifugo|discord|FILE.json")
      ->capture_default_str();
  cmd->add_flag("--json", o->json, "One JSON object per event and line on stdout");
  cmd->add_option("--max-attempts", o->max_attempts, "Give up after N retries")
      ->check(CLI::Range(0u, 1000000u));
  cmd->add_option("--header", o->headers, "Extra request header NAME:VALUE (repeatable)");
  cmd->add_option("--subprotocol", o->subprotocols, "Offer a subprotocol (repeatable)");
  cmd->add_option("--ca-file", o->ca_file, "PEM file of CA certificates to trust for wss://")
      ->check(CLI::ExistingFile);
  cmd->add_flag("--insecure", o->insecure, "Do not verify the server's certificate (testing only)");
  auto* eof = cmd->add_flag("--close-on-eof", o->close_on_eof,
                            "When stdin ends, close with --close-code (after connecting, if the "
                            "connection is not open yet, and after sending every line read)");
  cmd->add_option("--close-code", o->close_code,
                  "Close code for --close-on-eof: 1000 or 3000-4999 (default 1000). Codes "
                  "only endpoints send (1001-1003, 1007-1014) are refused: closewise's client "
                  "cannot send them")
      ->needs(eof)
      ->check(CLI::Range(0u, 65535u));
  cmd->add_option("--close-reason", o->close_reason,
                  "Close reason for --close-on-eof: at most 123 bytes of UTF-8 (default none)")
      ->needs(eof);
  cmd->add_flag("--slash", o->slash,
                "Read slash commands from stdin: '/close [CODE [REASON]]' closes (1000 by "
                "default; same codes as --close-code); a line starting with '//' is sent as text "
                "without its first '/'. Without --slash every line is sent as text");
  // --- resume (issue 13) ---
  cmd->add_flag("--resume", o->resume,
                "Offer a resumable session (docs/resume.md): after a drop nothing is lost or "
                "duplicated; prints resumed / resume_failed events");
  return [o] { return run_connect(*o); };
}

}  // namespace closewise::cli
