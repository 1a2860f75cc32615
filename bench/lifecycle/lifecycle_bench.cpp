// The server lifecycle benchmark of issue 6. Two measures, one JSON line each:
//
//   closewise_lifecycle_bench shutdown N DEADLINE_MS [SPREAD_MS [MUTE]]
//       N closewise clients (in a forked child process, so each process holds
//       only N descriptors) connect to a closewise server, plus MUTE raw
//       sockets that upgrade and never answer; then the server shuts down with
//       1001 and the time to a complete summary is measured against the drain
//       deadline (with MUTE > 0 it is the deadline that ends it).
//   closewise_lifecycle_bench slow N SECONDS MAX_BUFFERED MSG_BYTES [copy]
//       N raw sockets upgrade and never read; the server broadcasts MSG_BYTES
//       messages to all of them for SECONDS (slow consumers are kept, not
//       closed, so the queues stay full). Peak memory (VmHWM) must stay bounded
//       by the queues. With `copy`, every session gets its own copy through
//       session::send_binary, to compare with the shared frame of broadcast().
//
// Everything runs on 127.0.0.1; every wait is bounded.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include "closewise/net/client.hpp"
#include "closewise/net/server.hpp"

namespace {

namespace net = closewise::net;
using steady = std::chrono::steady_clock;
using namespace std::chrono_literals;

double ms_since(steady::time_point t0) {
  return std::chrono::duration<double, std::milli>(steady::now() - t0).count();
}

void raise_nofile() {
  rlimit r{};
  ::getrlimit(RLIMIT_NOFILE, &r);
  r.rlim_cur = r.rlim_max;
  ::setrlimit(RLIMIT_NOFILE, &r);
}

/// A field of /proc/self/status in KiB ("VmRSS", "VmHWM").
long status_kib(const char* field) {
  std::ifstream in("/proc/self/status");
  std::string line;
  const std::string key = std::string(field) + ":";
  while (std::getline(in, line))
    if (line.rfind(key, 0) == 0) return std::strtol(line.c_str() + key.size(), nullptr, 10);
  return -1;
}

/// Runs an io_context on one thread until destroyed.
struct io_runner {
  io_runner() : work(boost::asio::make_work_guard(ioc)), t([this] { ioc.run(); }) {}
  ~io_runner() {
    work.reset();
    ioc.stop();
    t.join();
  }
  boost::asio::io_context ioc;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work;
  std::thread t;
};

/// Reads one line from `fd`, waiting at most `limit`.
std::string read_line(int fd, std::chrono::milliseconds limit) {
  std::string s;
  const auto deadline = steady::now() + limit;
  char c;
  while (steady::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    if (::read(fd, &c, 1) != 1) break;
    if (c == '\n') return s;
    s += c;
  }
  return s;
}

/// The child of `shutdown`: N clients; reports "open" then "closed CLEAN CODE1001".
int run_clients(std::uint16_t port, std::size_t n, int out_fd) {
  raise_nofile();
  io_runner io;
  std::atomic<std::size_t> opened{0}, closed{0}, clean{0}, going_away{0};
  std::vector<std::unique_ptr<net::client>> cs;
  cs.reserve(n);
  const std::string url = "ws://127.0.0.1:" + std::to_string(port) + "/";
  for (std::size_t i = 0; i < n; ++i) {
    net::client_config cfg;
    cfg.connect_timeout = 60s;
    cfg.handshake_timeout = 60s;
    auto c = std::make_unique<net::client>(io.ioc, cfg);
    c->on_open([&](const net::open_info&) { ++opened; });
    c->on_close([&](const closewise::close_event& e) {
      if (e.was_clean) ++clean;
      if (e.code == closewise::close_code::going_away) ++going_away;
      ++closed;
    });
    (void)c->connect(url);
    cs.push_back(std::move(c));
  }
  const auto t0 = steady::now();
  while (opened.load() + closed.load() < n && steady::now() - t0 < 120s)
    std::this_thread::sleep_for(5ms);  // a bench poll, bounded by the deadline above
  const std::string o = "open " + std::to_string(opened.load()) + "\n";
  (void)!::write(out_fd, o.data(), o.size());
  const auto t1 = steady::now();
  while (closed.load() < n && steady::now() - t1 < 120s) std::this_thread::sleep_for(5ms);
  const std::string c = "closed " + std::to_string(closed.load()) + " " +
                        std::to_string(clean.load()) + " " + std::to_string(going_away.load()) +
                        "\n";
  (void)!::write(out_fd, c.data(), c.size());
  return 0;
}

int raw_sink(std::uint16_t port);

int bench_shutdown(std::size_t n, std::chrono::milliseconds deadline,
                   std::chrono::milliseconds spread, std::size_t mute) {
  raise_nofile();
  // Fork before any thread exists: the child runs the clients, so each process
  // holds about N descriptors. It learns the port through `down`.
  int up[2], down[2];
  if (::pipe(up) != 0 || ::pipe(down) != 0) return 1;
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::close(up[0]);
    ::close(down[1]);
    const std::string port = read_line(down[0], 30s);
    ::_exit(run_clients(static_cast<std::uint16_t>(std::atoi(port.c_str())), n, up[1]));
  }
  ::close(up[1]);
  ::close(down[0]);
  io_runner io;  // the server's thread
  net::server_config cfg;
  cfg.handshake_timeout = 60s;
  net::server srv(io.ioc, cfg);
  std::atomic<std::size_t> opened{0};
  srv.on_open([&](net::session&) { ++opened; });
  if (srv.listen("127.0.0.1", 0)) return 1;
  const std::string port_line = std::to_string(srv.port()) + "\n";
  (void)!::write(down[1], port_line.data(), port_line.size());
  const auto t0 = steady::now();
  const std::string open_line = read_line(up[0], 150s);
  const double connect_ms = ms_since(t0);
  const auto t1 = steady::now();
  while (opened.load() < n && steady::now() - t1 < 30s) std::this_thread::sleep_for(5ms);
  std::vector<int> mutes;
  for (std::size_t i = 0; i < mute; ++i) {
    const int fd = raw_sink(srv.port());
    if (fd >= 0) mutes.push_back(fd);
  }
  const auto t3 = steady::now();
  while (srv.session_count() < n + mutes.size() && steady::now() - t3 < 30s)
    std::this_thread::sleep_for(5ms);
  const std::size_t open_now = srv.session_count();
  const long rss_open = status_kib("VmRSS");

  net::shutdown_options opts;
  opts.drain_deadline = deadline;
  opts.spread = spread;
  const auto t2 = steady::now();
  const auto sum = srv.shutdown_and_wait(opts);
  const double shutdown_ms = ms_since(t2);
  const std::string closed_line = read_line(up[0], 150s);
  int st = 0;
  ::waitpid(pid, &st, 0);
  for (int fd : mutes) ::close(fd);
  std::printf(
      "{\"bench\":\"shutdown\",\"mute\":%zu,\"connections\":%zu,\"open_at_shutdown\":%zu,"
      "\"deadline_ms\":%lld,"
      "\"spread_ms\":%lld,\"shutdown_ms\":%.1f,\"summary_elapsed_ms\":%lld,\"clean\":%zu,"
      "\"aborted\":%zu,\"failed\":%zu,\"connect_all_ms\":%.1f,\"server_rss_kib\":%ld,"
      "\"client_open\":\"%s\",\"client_closed\":\"%s\"}\n",
      mutes.size(), n, open_now, static_cast<long long>(deadline.count()),
      static_cast<long long>(spread.count()), shutdown_ms,
      static_cast<long long>(sum.elapsed.count()), sum.clean, sum.aborted, sum.failed, connect_ms,
      rss_open, open_line.c_str(), closed_line.c_str());
  return sum.error ? 1 : 0;
}

/// A raw socket that upgrades and never reads again, with a small receive window.
int raw_sink(std::uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  const int rcvbuf = 4096;
  ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) return -1;
  const std::string req =
      "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
  if (::send(fd, req.data(), req.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(req.size()))
    return -1;
  // Read the 101 answer only.
  std::string resp;
  char buf[512];
  while (resp.find("\r\n\r\n") == std::string::npos) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 10000) <= 0) return -1;
    const auto k = ::recv(fd, buf, sizeof buf, 0);
    if (k <= 0) return -1;
    resp.append(buf, static_cast<std::size_t>(k));
  }
  return fd;
}

int bench_slow(std::size_t n, std::chrono::seconds secs, std::size_t max_buffered,
               std::size_t msg_bytes, bool copy) {
  raise_nofile();
  io_runner io;
  net::server_config cfg;
  cfg.max_buffered = max_buffered;
  cfg.close_slow_consumers = false;  // keep them: the worst case for memory
  net::server srv(io.ioc, cfg);
  if (srv.listen("127.0.0.1", 0)) return 1;
  std::vector<int> sinks;
  for (std::size_t i = 0; i < n; ++i) {
    const int fd = raw_sink(srv.port());
    if (fd < 0) break;
    sinks.push_back(fd);
  }
  const auto t0 = steady::now();
  while (srv.session_count() < sinks.size() && steady::now() - t0 < 30s)
    std::this_thread::sleep_for(5ms);
  const long rss_before = status_kib("VmRSS");
  const std::string msg(msg_bytes, 'b');
  std::uint64_t queued = 0, refused = 0, rounds = 0;
  long rss_peak_sampled = rss_before;
  std::size_t buffered_peak = 0;
  const auto end = steady::now() + secs;
  while (steady::now() < end) {
    if (copy) {
      for (auto& s : srv.sessions()) {
        if (s->send_binary(msg))
          ++refused;
        else
          ++queued;
      }
    } else {
      const auto r = srv.broadcast(closewise::proto::message_kind::binary, msg);
      queued += r.queued;
      refused += r.refused;
    }
    ++rounds;
    if (rounds % 16 == 0) {
      std::size_t total = 0;
      for (auto& s : srv.sessions()) total += s->buffered_amount();
      buffered_peak = std::max(buffered_peak, total);
      rss_peak_sampled = std::max(rss_peak_sampled, status_kib("VmRSS"));
      std::this_thread::sleep_for(1ms);  // let the server thread write
    }
  }
  const long hwm = status_kib("VmHWM");
  std::printf(
      "{\"bench\":\"slow_consumers\",\"mode\":\"%s\",\"connections\":%zu,\"seconds\":%lld,"
      "\"max_buffered\":%zu,\"msg_bytes\":%zu,\"rounds\":%llu,\"queued\":%llu,\"refused\":%llu,"
      "\"buffered_sum_peak\":%zu,\"queue_bound_sum\":%zu,\"rss_before_kib\":%ld,"
      "\"rss_peak_kib\":%ld,\"vm_hwm_kib\":%ld,\"open_after\":%zu}\n",
      copy ? "copy" : "broadcast", sinks.size(), static_cast<long long>(secs.count()), max_buffered,
      msg_bytes, static_cast<unsigned long long>(rounds), static_cast<unsigned long long>(queued),
      static_cast<unsigned long long>(refused), buffered_peak, sinks.size() * max_buffered,
      rss_before, rss_peak_sampled, hwm, srv.session_count());
  for (int fd : sinks) ::close(fd);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "shutdown" && argc >= 4) {
    return bench_shutdown(std::strtoull(argv[2], nullptr, 10),
                          std::chrono::milliseconds(std::atoll(argv[3])),
                          std::chrono::milliseconds(argc > 4 ? std::atoll(argv[4]) : 0),
                          argc > 5 ? std::strtoull(argv[5], nullptr, 10) : 0);
  }
  if (mode == "slow" && argc >= 6) {
    return bench_slow(std::strtoull(argv[2], nullptr, 10),
                      std::chrono::seconds(std::atoll(argv[3])),
                      std::strtoull(argv[4], nullptr, 10), std::strtoull(argv[5], nullptr, 10),
                      argc > 6 && std::string(argv[6]) == "copy");
  }
  std::fprintf(stderr,
               "usage: %s shutdown N DEADLINE_MS [SPREAD_MS [MUTE]]\n"
               "       %s slow N SECONDS MAX_BUFFERED MSG_BYTES [copy]\n",
               argv[0], argv[0]);
  return 2;
}
