// Support for the `closewise proxy` tests: an io_context on a thread, an
// in-process upstream server that closes as the request path says and
// records what it received, and clients that report their events as futures.
#pragma once

#include <gtest/gtest.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <closewise/close_event.hpp>
#include <closewise/net/client.hpp>
#include <closewise/net/server.hpp>

#include <chrono>
#include <condition_variable>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "cli/cli_json.hpp"

namespace closewise::test {

/// An io_context run by one thread for the test's lifetime.
struct io_thread {
  boost::asio::io_context ioc;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work{ioc.get_executor()};
  std::thread runner{[this] { ioc.run(); }};
  io_thread() = default;
  io_thread(const io_thread&) = delete;
  io_thread& operator=(const io_thread&) = delete;
  ~io_thread() {
    work.reset();
    ioc.stop();
    runner.join();
  }
};

/// What an upstream session saw: its request target, subprotocol offer and end.
struct upstream_record {
  std::string target;
  std::vector<std::string> offered;
  std::optional<std::string> forwarded_for;
  close_event ended;
};

/// The upstream behind the proxy. A request for /close/CODE/REASON closes at
/// open with CODE (any wire-valid code, or 1005: an empty close frame) and
/// the reason REASON (not percent-decoded); a path with /echo in it echoes;
/// others stay open.
class upstream_server {
 public:
  explicit upstream_server(boost::asio::io_context& ioc, net::server_config cfg = {})
      : srv_(ioc, std::move(cfg)) {
    srv_.on_select_subprotocol([this](const std::vector<std::string>& offered) {
      return offered.empty() ? std::string{} : pick_(offered);
    });
    srv_.on_open([](net::session& s) { close_as_asked(s); });
    srv_.on_message([](net::session& s, proto::message_kind k, std::string_view m) {
      if (s.request().target.find("/echo") != std::string::npos) (void)s.send(k, m);
    });
    srv_.on_close([this](net::session& s, const close_event& ev) {
      upstream_record r{s.request().target, s.request().subprotocols, std::nullopt, ev};
      if (auto x = s.request().headers.get("X-Forwarded-For")) r.forwarded_for = std::string(*x);
      std::lock_guard lock(mu_);
      ended_.push_back(std::move(r));
      cv_.notify_all();
    });
  }
  /// Chooses the subprotocol from the client's offer (default: the first).
  void pick(std::function<std::string(const std::vector<std::string>&)> f) { pick_ = std::move(f); }
  net::server& server() { return srv_; }
  int listen() {
    EXPECT_FALSE(srv_.listen("127.0.0.1", 0));
    return srv_.port();
  }
  /// Waits until `n` sessions ended; returns them by target.
  std::map<std::string, upstream_record> wait_ended(std::size_t n, std::chrono::seconds timeout) {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, timeout, [&] { return ended_.size() >= n; });
    std::map<std::string, upstream_record> by_target;
    for (const auto& r : ended_) by_target[r.target] = r;
    return by_target;
  }

 private:
  static void close_as_asked(net::session& s) {
    const std::string& t = s.request().target;
    if (t.rfind("/close/", 0) != 0) return;
    const auto slash = t.find('/', 7);
    const auto code = static_cast<close_code>(std::stoi(t.substr(7, slash - 7)));
    const std::string reason = slash == std::string::npos ? "" : t.substr(slash + 1);
    EXPECT_FALSE(s.close_relay(code, reason)) << t;
  }

  std::function<std::string(const std::vector<std::string>&)> pick_ =
      [](const std::vector<std::string>& o) { return o.front(); };
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<upstream_record> ended_;
  // Last, so it is destroyed first: its destructor stops the callbacks that
  // use the members above (TSan saw on_close racing ~vector otherwise).
  net::server srv_;
};

/// A client whose open and close arrive as futures; `on_open_do` runs at open.
struct probe_client {
  std::promise<net::open_info> opened;
  std::promise<close_event> closed;
  std::future<net::open_info> open_f = opened.get_future();
  std::future<close_event> close_f = closed.get_future();
  std::vector<std::string> messages;  // the client's executor only, read after close
  net::client c;
  bool open_set = false;

  explicit probe_client(boost::asio::io_context& ioc, net::client_config cfg = {})
      : c(ioc, std::move(cfg)) {}
  /// Connects; `on_open_do` runs at open and `on_message_do` at each message.
  void start(const std::string& url, std::function<void(net::client&)> on_open_do = {},
             std::function<void(net::client&)> on_message_do = {}) {
    c.on_open([this, f = std::move(on_open_do)](const net::open_info& i) {
      open_set = true;
      opened.set_value(i);
      if (f) f(c);
    });
    c.on_message([this, f = std::move(on_message_do)](proto::message_kind, std::string_view m) {
      messages.emplace_back(m);
      if (f) f(c);
    });
    c.on_close([this](const close_event& ev) { closed.set_value(ev); });
    EXPECT_FALSE(c.connect(url));
  }
  /// The close event, or 1006 "<timeout>" when none came in time.
  close_event wait_close(std::chrono::seconds timeout = std::chrono::seconds(10)) {
    if (close_f.wait_for(timeout) != std::future_status::ready)
      return close_event{close_code::abnormal, "<timeout>", false, initiator::none, {}};
    return close_f.get();
  }
};

/// `closewise proxy --json --listen 127.0.0.1:0 --upstream URL [extra...]`.
inline std::vector<std::string> proxy_args(const std::string& upstream,
                                           std::vector<std::string> extra = {}) {
  std::vector<std::string> v{CLOSEWISE_CLI, "proxy",      "--json", "--listen",
                             "127.0.0.1:0", "--upstream", upstream};
  v.insert(v.end(), extra.begin(), extra.end());
  return v;
}

/// The proxy's URL, from its first stdout line (the listening event).
inline std::string proxy_url(cli_process& p) {
  return "ws://127.0.0.1:" + std::to_string(listening_port(p));
}

}  // namespace closewise::test
