#include "demo_resume.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <closewise/net/reconnecting_client.hpp>
#include <closewise/net/server.hpp>
#include <closewise/resume/memory_store.hpp>
#include <condition_variable>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>

namespace closewise::cli::demo {
namespace {

using std::chrono::milliseconds;
using steady = std::chrono::steady_clock;

struct book {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<int> echoes;
  std::size_t back = 0;
  std::vector<resume::client_outcome> outcomes;
  std::optional<steady::time_point> resumed_at;
  template <class P>
  bool wait(P p) {
    std::unique_lock l(mu);
    return cv.wait_for(l, std::chrono::seconds(20), p);
  }
};

std::unique_ptr<net::server> echo_server(boost::asio::io_context& ioc,
                                         std::shared_ptr<resume::session_store> store,
                                         std::uint16_t port) {
  net::server_config cfg;
  cfg.resume_store = std::move(store);
  auto s = std::make_unique<net::server>(ioc, cfg);
  s->on_message(
      [](net::session& ss, proto::message_kind k, std::string_view p) { (void)ss.send(k, p); });
  if (s->listen("127.0.0.1", port)) return nullptr;
  return s;
}

}  // namespace

resume_row run_resume_row(boost::asio::io_context& ioc, int messages) {
  resume_row r;
  r.how =
      "in-process: the first server is destroyed abruptly (every connection aborted, no close "
      "frame) and a second one on the same port takes over its memory store";
  r.messages = messages;
  auto store = std::make_shared<resume::memory_store>();
  auto first = echo_server(ioc, store, 0);
  if (!first) return r;
  const auto port = first->port();
  book b;
  net::reconnecting_client_config cfg;
  cfg.resume = resume::session_settings{};
  cfg.queue.max_messages = static_cast<std::size_t>(messages) + 16;
  cfg.policy.backoff = policy::full_jitter{milliseconds{20}, milliseconds{20}, milliseconds{200}};
  auto c = std::make_unique<net::reconnecting_client>(ioc, cfg);
  c->on_message([&b](proto::message_kind, std::string_view p) {
    std::lock_guard l(b.mu);
    b.echoes.push_back(std::atoi(std::string(p).c_str()));
    b.cv.notify_all();
  });
  c->on_undelivered([&b](std::vector<net::queued_message> m, std::error_code) {
    std::lock_guard l(b.mu);
    b.back += m.size();
    b.cv.notify_all();
  });
  c->on_resume([&b](const resume::client_outcome& o) {
    std::lock_guard l(b.mu);
    b.outcomes.push_back(o);
    if (b.outcomes.size() == 2) b.resumed_at = steady::now();
    b.cv.notify_all();
  });
  if (c->connect(fmt::format("ws://127.0.0.1:{}/", port))) return r;
  // A third goes out before the death (plus a window in flight), the rest after it.
  const int kill_at = messages / 3;
  const int before = std::min(messages, kill_at + 64);
  for (int i = 1; i <= before; ++i) (void)c->send_text(std::to_string(i));
  b.wait([&] { return static_cast<int>(b.echoes.size()) >= kill_at; });
  std::unique_ptr<net::server> second;
  steady::time_point killed;
  {
    std::lock_guard l(b.mu);
    r.killed_after = static_cast<int>(b.echoes.size());
    killed = steady::now();
  }
  first.reset();  // the abrupt death: aborted, mid-stream
  // The old acceptor closes on its executor: the port is free a moment later.
  for (int i = 0; i < 500 && !second; ++i) {
    second = echo_server(ioc, store, port);
    if (!second) std::this_thread::sleep_for(milliseconds(10));
  }
  for (int i = before + 1; i <= messages; ++i) (void)c->send_text(std::to_string(i));
  b.wait([&] {
    return (static_cast<int>(b.echoes.size()) >= messages && b.outcomes.size() >= 2) ||
           b.back > 0 || b.outcomes.size() > 2;
  });
  {
    std::lock_guard l(b.mu);
    r.echoes = static_cast<int>(b.echoes.size());
    r.in_order_once = r.echoes == messages;
    for (int i = 0; r.in_order_once && i < messages; ++i)
      r.in_order_once = b.echoes[static_cast<std::size_t>(i)] == i + 1;
    r.handed_back = b.back;
    if (b.outcomes.size() >= 2) {
      r.outcome = b.outcomes[1].kind == resume::client_outcome_kind::resumed
                      ? "resumed"
                      : std::string(to_string(b.outcomes[1].status));
      r.replayed_out = static_cast<long>(b.outcomes[1].replay_out);
      r.replayed_in = static_cast<long>(b.outcomes[1].replay_in);
    }
    if (b.resumed_at)
      r.resume_time = std::chrono::duration_cast<milliseconds>(*b.resumed_at - killed);
    r.ok = second && r.in_order_once && r.handed_back == 0 && r.outcome == "resumed";
  }
  c.reset();
  second.reset();
  return r;
}

nlohmann::json resume_report(const resume_row& r) {
  return {{"name", "resume-after-server-death"},
          {"how", r.how},
          {"messages", r.messages},
          {"killed_after_echoes", r.killed_after},
          {"echoes", r.echoes},
          {"exactly_once_in_order", r.in_order_once},
          {"handed_back", r.handed_back},
          {"outcome", r.outcome},
          {"replayed_out", r.replayed_out},
          {"replayed_in", r.replayed_in},
          {"resume_ms", r.resume_time.count()},
          {"agrees", r.ok}};
}

std::vector<std::string> describe(const resume_row& r) {
  return {fmt::format("resume: {} numbered messages echoed; the server died after {} echoes ({})",
                      r.messages, r.killed_after, r.how),
          fmt::format("  second connection: {} ({} replayed out, {} in) {} ms after the death",
                      r.outcome.empty() ? "none" : r.outcome, r.replayed_out, r.replayed_in,
                      r.resume_time.count()),
          fmt::format("  echoes {} of {}, exactly once and in order: {}; handed back: {} -> {}",
                      r.echoes, r.messages, r.in_order_once ? "yes" : "NO", r.handed_back,
                      r.ok ? "nothing lost" : "DISAGREES")};
}

}  // namespace closewise::cli::demo
