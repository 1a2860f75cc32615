// The fleet bench's load (issue 14): N reconnecting clients, each sending
// numbered messages to an echo server (through a load balancer), counting
// what comes back, while run.sh restarts the backends behind it.
//
// Usage: closewise_fleet_load --url ws://H:P/ [--clients N] [--interval-ms MS]
//                             [--window-ms MS] [--settle-ms MS] [--resume 0|1]
// Prints {"event":"ready"} once every client opened; reading "stop" (or EOF) on
// stdin stops the sending, waits --settle-ms for the last echoes and prints one
// JSON summary: clients that gave up, refused connects (ECONNREFUSED), other
// connect errors, close codes seen, reconnects per --window-ms window (peak and
// mean over the span from the first close to the last reopen), the time until
// every client was back, and messages sent, echoed, lost (sent, handed to a
// connection, never echoed) and duplicated (echoed twice).
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <future>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <nlohmann/json.hpp>

#include "closewise/error.hpp"
#include "closewise/net/reconnecting_client.hpp"

namespace {

using namespace closewise;
using steady = std::chrono::steady_clock;
using std::chrono::milliseconds;

struct options {
  std::string url;
  int clients = 200;
  milliseconds interval{100};
  milliseconds window{100};
  milliseconds settle{2000};
  bool resume = false;
};

/// One client's books. Touched only from its own callbacks and the send
/// timer, which the one io_context thread runs: no locking.
struct tally {
  std::uint64_t next_seq = 0;
  std::vector<std::uint8_t> echoes;  ///< per seq: times echoed
  std::uint64_t undelivered = 0;     ///< handed back by the client (never sent)
  int opens = 0;
};

struct shared_books {
  std::mutex mu;
  std::vector<steady::time_point> reopens;  ///< every open after a client's first
  std::vector<steady::time_point> closes;   ///< every close of an open connection
  std::map<int, std::uint64_t> codes;
  std::uint64_t refused = 0, connect_errors = 0, gave_up = 0;
  int ready = 0;
};

class load_client {
 public:
  load_client(boost::asio::io_context& ioc, int id, shared_books& b, bool resume)
      : id_(id), books_(b), rc_(ioc, config(resume)), timer_(ioc) {
    rc_.on_open([this](const net::open_info&) { opened(); });
    rc_.on_message([this](proto::message_kind, std::string_view d) { echoed(d); });
    rc_.on_close([this](const close_event& ev) {
      std::lock_guard lock(books_.mu);
      ++books_.codes[to_int(ev.code)];
      if (was_open_) books_.closes.push_back(steady::now());
      was_open_ = false;
    });
    rc_.on_error([this](std::error_code ec) {
      std::lock_guard lock(books_.mu);
      ++(ec == error::connection_refused ? books_.refused : books_.connect_errors);
    });
    rc_.on_give_up([this](const net::give_up_summary&) {
      std::lock_guard lock(books_.mu);
      ++books_.gave_up;
    });
    rc_.on_undelivered([this](std::vector<net::queued_message> msgs, std::error_code) {
      t_.undelivered += msgs.size();
    });
  }

  std::error_code start(const std::string& url) { return rc_.connect(url); }
  void send_next(milliseconds interval) {
    // Numbered "id:seq"; the queue holds them while a reconnect is under way.
    const std::string msg = std::to_string(id_) + ":" + std::to_string(t_.next_seq);
    if (!rc_.send_text(msg)) {
      ++t_.next_seq;
      t_.echoes.push_back(0);
    }
    timer_.expires_after(interval);
    timer_.async_wait([this, interval](const boost::system::error_code& ec) {
      if (!ec && sending_.load()) send_next(interval);
    });
  }
  void stop_sending() {
    sending_ = false;
    timer_.cancel();
  }
  void close() { (void)rc_.close(close_code::normal, {}, milliseconds(1000)); }
  const tally& books() const { return t_; }
  bool is_open() const { return was_open_; }
  std::size_t queued() const { return rc_.queued(); }

 private:
  static net::reconnecting_client_config config(bool resume) {
    net::reconnecting_client_config c;
    c.heartbeat.interval = milliseconds(0);
    // --resume (docs/resume.md): every connection offers a resumable session; a
    // backend with `serve --resume redis://` lets it resume on another process.
    if (resume) c.resume = resume::session_settings{};
    return c;
  }
  void opened() {
    was_open_ = true;
    std::lock_guard lock(books_.mu);
    if (t_.opens++ == 0) {
      ++books_.ready;
    } else {
      books_.reopens.push_back(steady::now());
    }
  }
  void echoed(std::string_view d) {
    const auto colon = d.find(':');
    if (colon == std::string_view::npos) return;
    const auto seq = std::stoull(std::string(d.substr(colon + 1)));
    if (seq < t_.echoes.size() && t_.echoes[seq] < 255) ++t_.echoes[seq];
  }

  int id_;
  shared_books& books_;
  net::reconnecting_client rc_;
  boost::asio::steady_timer timer_;
  tally t_;
  bool was_open_ = false;
  std::atomic<bool> sending_{true};
};

options parse(int argc, char** argv) {
  options o;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--url")
      o.url = v;
    else if (k == "--clients")
      o.clients = std::stoi(v);
    else if (k == "--interval-ms")
      o.interval = milliseconds(std::stoi(v));
    else if (k == "--window-ms")
      o.window = milliseconds(std::stoi(v));
    else if (k == "--settle-ms")
      o.settle = milliseconds(std::stoi(v));
    else if (k == "--resume")
      o.resume = v == "1";
    else {
      std::cerr << "closewise_fleet_load: unknown option " << k << "\n";
      std::exit(2);
    }
  }
  if (o.url.empty()) {
    std::cerr << "usage: closewise_fleet_load --url ws://H:P/ [--clients N] [--interval-ms MS] "
                 "[--window-ms MS] [--settle-ms MS] [--resume 0|1]\n";
    std::exit(2);
  }
  return o;
}

nlohmann::json reconnect_rates(const shared_books& b, milliseconds window) {
  nlohmann::json j = {{"reconnects", b.reopens.size()}};
  if (b.reopens.empty() || b.closes.empty()) return j;
  const auto first = *std::min_element(b.closes.begin(), b.closes.end());
  const auto last = *std::max_element(b.reopens.begin(), b.reopens.end());
  const auto span = std::max<std::int64_t>(
      1, std::chrono::duration_cast<milliseconds>(last - first).count() / window.count() + 1);
  std::vector<std::uint64_t> per(static_cast<std::size_t>(span), 0);
  for (auto t : b.reopens) {
    const auto w = std::chrono::duration_cast<milliseconds>(t - first).count() / window.count();
    if (w >= 0 && w < span) ++per[static_cast<std::size_t>(w)];
  }
  j["window_ms"] = window.count();
  j["per_window"] = per;  // the whole series, for a plot
  j["peak_per_window"] = *std::max_element(per.begin(), per.end());
  j["mean_per_window"] = static_cast<double>(b.reopens.size()) / static_cast<double>(span);
  j["first_close_to_last_reopen_ms"] =
      std::chrono::duration_cast<milliseconds>(last - first).count();
  return j;
}

}  // namespace

int main(int argc, char** argv) {
  const options o = parse(argc, argv);
  rlimit r{};
  ::getrlimit(RLIMIT_NOFILE, &r);
  r.rlim_cur = r.rlim_max;
  ::setrlimit(RLIMIT_NOFILE, &r);

  boost::asio::io_context ioc(1);
  auto work = boost::asio::make_work_guard(ioc);
  std::thread io([&] { ioc.run(); });
  shared_books books;
  std::vector<std::unique_ptr<load_client>> cs;
  for (int i = 0; i < o.clients; ++i)
    cs.push_back(std::make_unique<load_client>(ioc, i, books, o.resume));
  boost::asio::post(ioc, [&] {
    for (auto& c : cs) {
      if (auto ec = c->start(o.url)) std::cerr << "connect: " << ec.message() << "\n";
      c->send_next(o.interval);
    }
  });
  // Ready once every client opened once (bounded: 60 s).
  for (int i = 0; i < 600; ++i) {
    {
      std::lock_guard lock(books.mu);
      if (books.ready == o.clients) break;
    }
    std::this_thread::sleep_for(milliseconds(100));
  }
  std::cout << nlohmann::json{{"event", "ready"}, {"clients", o.clients}}.dump() << std::endl;

  std::string line;
  while (std::getline(std::cin, line) && line != "stop") {
  }
  boost::asio::post(ioc, [&] {
    for (auto& c : cs) c->stop_sending();
  });
  std::this_thread::sleep_for(o.settle);

  std::uint64_t sent = 0, echoed = 0, lost = 0, dup = 0, undelivered = 0, queued = 0;
  int back = 0;
  std::promise<void> counted;
  boost::asio::post(ioc, [&] {
    for (auto& c : cs) {
      const tally& t = c->books();
      sent += t.next_seq;
      undelivered += t.undelivered;
      queued += c->queued();  // still waiting for a connection: not lost
      for (auto e : t.echoes) {
        echoed += e > 0;
        lost += e == 0;
        dup += e > 1;
      }
      back += c->is_open();
    }
    counted.set_value();
  });
  counted.get_future().wait();
  nlohmann::json out;
  {
    std::lock_guard lock(books.mu);
    nlohmann::json codes = nlohmann::json::object();
    for (auto [code, n] : books.codes) codes[std::to_string(code)] = n;
    out = {{"event", "summary"},
           {"clients", o.clients},
           {"gave_up", books.gave_up},
           {"open_at_stop", back},
           {"refused", books.refused},
           {"connect_errors", books.connect_errors},
           {"close_codes", codes},
           {"rates", reconnect_rates(books, o.window)},
           {"messages",
            {{"sent", sent},
             {"echoed", echoed},
             {"lost", lost - std::min(lost, undelivered + queued)},
             {"undelivered", undelivered},
             {"queued_at_stop", queued},
             {"duplicated", dup}}}};
  }
  boost::asio::post(ioc, [&] {
    for (auto& c : cs) c->close();
  });
  std::this_thread::sleep_for(milliseconds(1200));
  std::cout << out.dump() << std::endl;
  work.reset();
  ioc.stop();
  io.join();
  cs.clear();
  return 0;
}
