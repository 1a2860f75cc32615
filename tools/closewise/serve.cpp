// `closewise serve --port PORT ...`: a WebSocket server for testing clients (ARCHITECTURE §5).
#include <fmt/format.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <closewise/close_event.hpp>
#include <closewise/error.hpp>
#include <closewise/net/server.hpp>
#include <closewise/net/session.hpp>
#include <nlohmann/json.hpp>

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "close_request.hpp"
#include "commands.hpp"
#include "output.hpp"
#include "path_script.hpp"
#include "resume_option.hpp"
#include "serve_fleet.hpp"
#include "serve_metrics.hpp"

namespace closewise::cli {
namespace {

struct serve_opts {
  std::uint16_t port = 0;
  std::string host = "127.0.0.1";
  bool echo = false;
  std::size_t max_message = std::size_t{64} << 20;
  bool json = false;
  std::optional<unsigned> close_after_ms;
  std::uint32_t code = 1000;
  std::string reason;
  std::optional<unsigned> drop_after_ms;
  bool scripted_paths = false;
  std::optional<unsigned> reject_status;
  std::optional<unsigned> retry_after;
  std::string tls_cert, tls_key;
  std::optional<std::size_t> max_connections;
  bool shed_1013 = false;
  // --- resume (issue 13) ---
  std::optional<std::string> resume;  ///< memory | redis://HOST:PORT
  // issue 16: Prometheus metrics
  std::optional<std::string> metrics;
  fleet_opts fleet;
};

/// What the server does to a connection once it is open.
struct connection_plan {
  enum class action { none, close, drop };
  action what = action::none;
  close_request close;
  std::chrono::milliseconds after{0};
};

/// Counts over the process's whole life, for the shutdown summary.
struct lifetime_counts {
  std::uint64_t served = 0;  ///< connections that opened
  std::uint64_t clean = 0;   ///< of those, ended with a full close handshake
  std::uint64_t unclean = 0;
  std::uint64_t refused = 0;  ///< upgrades serve refused itself (--reject-status, bad scripts)
  std::map<std::uint16_t, std::uint64_t> codes;  ///< close code reported -> connections
};

std::string remote_text(const net::session& s) {
  return fmt::format("{}:{}", s.remote_endpoint().address().to_string(),
                     s.remote_endpoint().port());
}

int run_serve(const serve_opts& o) {
  const event_printer out(o.json);
  if (auto p = close_code_problem(o.code, close_sender::server); !p.empty()) {
    out.diag(fmt::format("closewise serve: --code {}: {}", o.code, p));
    return 2;
  }
  if (auto p = close_reason_problem(o.reason); !p.empty()) {
    out.diag(fmt::format("closewise serve: --reason: {}", p));
    return 2;
  }
  if (o.retry_after && !o.reject_status && !o.max_connections) {
    out.diag("closewise serve: --retry-after needs --reject-status or --max-connections");
    return 2;
  }
  if (o.tls_cert.empty() != o.tls_key.empty()) {
    out.diag("closewise serve: --tls-cert and --tls-key go together");
    return 2;
  }

  connection_plan default_plan;
  if (o.close_after_ms) {
    default_plan.what = connection_plan::action::close;
    default_plan.close = {static_cast<close_code>(o.code), o.reason};
    default_plan.after = std::chrono::milliseconds(*o.close_after_ms);
  } else if (o.drop_after_ms) {
    default_plan.what = connection_plan::action::drop;
    default_plan.after = std::chrono::milliseconds(*o.drop_after_ms);
  }

  boost::asio::io_context ioc(1);
  net::server_config cfg;
  cfg.use_strand = false;  // one thread runs this io_context
  apply_fleet(o.fleet, cfg);
  cfg.protocol.max_message = o.max_message;
  cfg.protocol.max_frame = o.max_message;
  cfg.max_buffered = o.max_message + 4096;
  if (o.max_connections) {
    cfg.max_connections = *o.max_connections;
    cfg.on_overload =
        o.shed_1013 ? net::overload_action::close_1013 : net::overload_action::http_503;
    cfg.overload_retry_after = std::chrono::seconds(o.retry_after.value_or(5));
  }
  if (!o.tls_cert.empty()) cfg.tls = net::tls_server_options{o.tls_cert, o.tls_key, nullptr};
  if (o.resume) {
    std::string problem;
    cfg.resume_store = make_resume_store(*o.resume, problem);
    if (!cfg.resume_store) {
      out.diag(fmt::format("closewise serve: --resume {}: {}", *o.resume, problem));
      return 2;
    }
    cfg.on_resume = [&out](net::session& s, net::server_resume_event& ev) {
      auto j = resume_json(ev);
      j["id"] = s.id();
      out.emit(j, fmt::format("#{} {}", s.id(), describe_resume(j)));
    };
  }
  // --metrics: the server reports to a registry served on /metrics.
  std::optional<serve_metrics> scrape;
  if (o.metrics) {
    const auto where = parse_host_port(*o.metrics);
    if (!where) {
      out.diag(fmt::format("closewise serve: --metrics {}: expected HOST:PORT", *o.metrics));
      return 2;
    }
    scrape.emplace(ioc, *where);
    if (!scrape->listen(out)) return 1;
    cfg.observer = scrape->registry();
  }
  net::server srv(ioc, cfg);

  // Touched on the io_context's one thread only (sessions on the server's
  // own threads post there).
  std::map<std::uint64_t, std::unique_ptr<boost::asio::steady_timer>> timers;
  // With --threads, callbacks run on several threads: counts are guarded.
  std::mutex counts_mu;
  lifetime_counts counts;

  auto refuse = [&](const proto::upgrade_request& req, unsigned status, proto::http_headers h,
                    const std::string& why) {
    {
      std::lock_guard lock(counts_mu);
      ++counts.refused;
    }
    out.emit({{"event", "refused"}, {"path", req.target}, {"status", status}, {"why", why}},
             fmt::format("refused {} with HTTP {}: {}", req.target, status, why));
    return net::accept_decision::refused(status, std::move(h),
                                         fmt::format("closewise serve: {}\n", why));
  };
  srv.on_connect([&](const proto::upgrade_request& req) {
    if (o.reject_status) {
      proto::http_headers h;
      if (o.retry_after) h.fields.emplace_back("Retry-After", std::to_string(*o.retry_after));
      return refuse(req, *o.reject_status, std::move(h),
                    fmt::format("--reject-status {}", *o.reject_status));
    }
    if (o.scripted_paths) {
      // RFC 6455 §4.2.2: a server that does not accept the request answers
      // with an HTTP error; 400 says the request itself is wrong.
      if (auto p = parse_path_script(req.target); !p.problem.empty())
        return refuse(req, 400, {}, fmt::format("{}: {}", req.target, p.problem));
    }
    return net::accept_decision::accepted();
  });

  auto plan_for = [&](const net::session& s) {
    if (o.scripted_paths) {
      if (auto p = parse_path_script(s.request().target); p.script) {
        connection_plan plan;
        plan.what = p.script->what == path_script::action::drop ? connection_plan::action::drop
                                                                : connection_plan::action::close;
        plan.close = p.script->close;
        plan.after = p.script->after;
        return plan;
      }
    }
    return default_plan;
  };

  srv.on_open([&](net::session& s) {
    {
      std::lock_guard lock(counts_mu);
      ++counts.served;
    }
    const auto& req = s.request();
    out.emit({{"event", "open"}, {"id", s.id()}, {"path", req.target}, {"remote", remote_text(s)}},
             fmt::format("open #{} {} from {}", s.id(), req.target, remote_text(s)));
    const connection_plan plan = plan_for(s);
    if (plan.what == connection_plan::action::none) return;
    boost::asio::post(ioc, [&, h = s.shared(), plan] {
      auto t = std::make_unique<boost::asio::steady_timer>(ioc, plan.after);
      t->async_wait([h, plan, &out](const boost::system::error_code& ec) {
        if (ec) return;
        if (plan.what == connection_plan::action::drop) {
          h->abort();
        } else if (const auto e = h->close_endpoint(plan.close.code, plan.close.reason)) {
          // Checked before; only a connection already closing gets here.
          out.diag(fmt::format("closewise serve: #{}: close {}: {}", h->id(),
                               to_int(plan.close.code), e.message()));
        }
      });
      timers.emplace(h->id(), std::move(t));
    });
  });
  srv.on_message([&](net::session& s, proto::message_kind kind, std::string_view data) {
    if (kind == proto::message_kind::text)
      out.emit({{"event", "message"}, {"id", s.id()}, {"type", "text"}, {"size", data.size()}},
               fmt::format("< #{} text, {} bytes", s.id(), data.size()));
    else
      out.emit({{"event", "message"}, {"id", s.id()}, {"type", "binary"}, {"size", data.size()}},
               fmt::format("< #{} binary, {} bytes", s.id(), data.size()));
    if (!o.echo) return;
    // A session that is closing, or a slow consumer (closed with 1008 by the server), refuses it.
    if (const auto ec = s.send(kind, data))
      out.diag(
          fmt::format("closewise serve: #{}: a message was not echoed: {}", s.id(), ec.message()));
  });
  srv.on_close([&](net::session& s, const close_event& ev) {
    if (default_plan.what != connection_plan::action::none || o.scripted_paths)
      boost::asio::post(ioc, [&, id = s.id()] { timers.erase(id); });
    {
      std::lock_guard lock(counts_mu);
      ++(ev.was_clean ? counts.clean : counts.unclean);
      ++counts.codes[to_int(ev.code)];
    }
    auto j = event_printer::close_json(ev);
    j["id"] = s.id();
    out.emit(j, fmt::format("#{} {}", s.id(), event_printer::describe_close(ev)));
  });

  auto summarize = [&](const net::shutdown_summary& sum) {
    {
      // The summary comes after the last session's on_close, so the lifetime
      // counts are complete here.
      std::lock_guard lock(counts_mu);
      nlohmann::json codes = nlohmann::json::object();
      for (const auto& [code, n] : counts.codes) codes[std::to_string(code)] = n;
      const std::uint64_t shed = srv.shed_count();
      out.emit(
          {{"event", "summary"},
           {"served", counts.served},
           {"clean", counts.clean},
           {"unclean", counts.unclean},
           {"codes", codes},
           {"refused", counts.refused},
           {"shed", shed},
           {"shutdown",
            {{"open", sum.total},
             {"clean", sum.clean},
             {"aborted", sum.aborted},
             {"failed", sum.failed},
             {"refused", sum.refused},
             {"elapsed_ms", sum.elapsed.count()}}}},
          fmt::format(
              "served {} connection(s): {} closed cleanly, {} not cleanly; {} upgrade(s) "
              "refused, {} shed; at shutdown {} open: {} closed cleanly, {} aborted, {} failed",
              counts.served, counts.clean, counts.unclean, counts.refused, shed, sum.total,
              sum.clean, sum.aborted, sum.failed));
    }
    ioc.stop();
  };

  // SIGTERM/SIGINT: a graceful shutdown with 1001 to every client. Installed
  // before the listening line, so a script may signal as soon as it read the port.
  // SIGHUP (and SIGTERM with --drain-on-term): the restart drain (serve_fleet.hpp).
  boost::asio::signal_set signals(ioc, SIGINT, SIGTERM, SIGHUP);
  std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>>
      until_summary;
  fleet_drain drain(ioc, srv, o.fleet, out);
  std::function<void(const boost::system::error_code&, int)> on_signal =
      [&](const boost::system::error_code& ec, int sig) {
        if (ec) return;
        if (sig == SIGHUP || (sig == SIGTERM && o.fleet.drain_on_term)) {
          if (!drain.start([&](const net::shutdown_summary& sum) {
                timers.clear();
                summarize(sum);
              }))
            out.diag("closewise serve: already draining");
          signals.async_wait(on_signal);
          return;
        }
        if (drain.shutdown_started()) {
          out.diag("closewise serve: already draining with 1012");
          signals.async_wait(on_signal);
          return;
        }
        out.diag("closewise serve: shutting down with 1001");
        timers.clear();
        net::shutdown_options so;
        so.code = close_code::going_away;
        so.reason = "server shutting down";
        so.drain_deadline = std::chrono::seconds(3);
        drain.cancel();
        // The summary may come on one of the server's threads: print it (and stop
        // run()) on this one, so nothing still reads the counts as they are destroyed.
        // With --threads the sessions are not on this io_context: keep run() going
        // until the summary is posted here.
        until_summary.emplace(ioc.get_executor());
        srv.shutdown(so, [&](const net::shutdown_summary& sum) {
          boost::asio::post(ioc, [&, sum] { summarize(sum); });
        });
      };
  signals.async_wait(on_signal);

  if (const auto ec = srv.listen(o.host, o.port)) {
    out.diag(
        fmt::format("closewise serve: cannot listen on {}:{}: {}", o.host, o.port, ec.message()));
    return 1;
  }
  // Always the first line on stdout, so a script can read the port it got with --port 0.
  out.emit({{"event", "listening"},
            {"host", o.host},
            {"port", srv.port()},
            {"tls", !o.tls_cert.empty()}},
           fmt::format("listening on {}://{}:{}/", o.tls_cert.empty() ? "ws" : "wss", o.host,
                       srv.port()));
  if (scrape) scrape->announce(out);

  ioc.run();
  return 0;
}

}  // namespace

runner add_serve_command(CLI::App& app) {
  auto o = std::make_shared<serve_opts>();
  auto* cmd = app.add_subcommand("serve", "Run a WebSocket server (any path, many connections)");
  cmd->footer(
      "The first line on stdout is always the address: {\"event\":\"listening\",\"host\":...,"
      "\"port\":N,\"tls\":...} with --json. On SIGTERM/SIGINT every client gets 1001, then a "
      "summary of every connection served is printed ({\"event\":\"summary\",...} with --json).\n"
      "--scripted-paths: /close/CODE?reason=R&after_ms=MS closes with CODE (1000-1003, "
      "1007-1014, 3000-4999; 1006 drops TCP) and reason R (form-encoded: + is a space), MS after "
      "the open; /drop?after_ms=MS drops TCP. Anything after /close/CODE/ is ignored. A broken "
      "script (e.g. /close/1005) is refused with HTTP 400 and a body naming the problem.");
  cmd->add_option("--port", o->port, "Port to listen on; 0 (the default) picks a free one")
      ->check(CLI::Range(0, 65535));
  cmd->add_option("--host", o->host, "Address to listen on")->capture_default_str();
  cmd->add_flag("--echo", o->echo, "Send every text or binary message back unchanged");
  cmd->add_option("--max-message", o->max_message,
                  "Largest message accepted, in bytes (1009 above)")
      ->capture_default_str()
      ->check(CLI::Range(std::size_t{1}, std::size_t{1} << 30));
  cmd->add_flag("--json", o->json, "One JSON object per event and line on stdout");
  auto* close_after = cmd->add_option("--close-after-ms", o->close_after_ms,
                                      "Close each connection this long after it opens")
                          ->check(CLI::Range(0u, 86400000u));
  cmd->add_option(
         "--code", o->code,
         "Close code for --close-after-ms: 1000-1003, 1007-1014 or 3000-4999 (default 1000)")
      ->needs(close_after)
      ->check(CLI::Range(0u, 65535u));
  cmd->add_option("--reason", o->reason,
                  "Close reason for --close-after-ms (at most 123 bytes of UTF-8)")
      ->needs(close_after);
  cmd->add_option("--drop-after-ms", o->drop_after_ms,
                  "Drop each connection's TCP this long after it opens, without a close frame (the "
                  "client sees 1006)")
      ->check(CLI::Range(0u, 86400000u))
      ->excludes(close_after);
  cmd->add_flag("--scripted-paths", o->scripted_paths,
                "Let the request path choose each connection's close or drop (see below); other "
                "paths get the default treatment");
  cmd->add_option("--reject-status", o->reject_status, "Refuse every upgrade with this HTTP status")
      ->check(CLI::Range(400u, 599u));
  cmd->add_option("--retry-after", o->retry_after,
                  "Retry-After seconds for --reject-status / --max-connections")
      ->check(CLI::Range(0u, 86400u));
  cmd->add_option("--tls-cert", o->tls_cert, "PEM certificate chain (wss)")
      ->check(CLI::ExistingFile);
  cmd->add_option("--tls-key", o->tls_key, "PEM private key (wss)")->check(CLI::ExistingFile);
  auto* max_conn =
      cmd->add_option("--max-connections", o->max_connections,
                      "Shed connections beyond N (503 + Retry-After, or 1013 with --shed-1013)")
          ->check(CLI::Range(std::size_t{1}, std::size_t{1000000}));
  cmd->add_flag(
         "--shed-1013", o->shed_1013,
         "At --max-connections, accept then close with 1013 \"retry-after=S\" instead of 503")
      ->needs(max_conn);
  // --- resume (issue 13) ---
  cmd->add_option("--resume", o->resume,
                  "Resumable sessions (docs/resume.md): memory (the default) or "
                  "redis://HOST:PORT, which survives a restart of this process")
      ->expected(0, 1)
      ->default_str("memory");
  // issue 16: Prometheus metrics
  cmd->add_option("--metrics", o->metrics,
                  "Serve Prometheus metrics (text format 0.0.4) on http://HOST:PORT/metrics; "
                  "PORT 0 picks a free one, announced by a metrics_listening line after the "
                  "listening line");
  add_fleet_flags(*cmd, o->fleet);
  return [o] { return run_serve(*o); };
}

}  // namespace closewise::cli
