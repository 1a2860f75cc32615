// What `closewise proxy` costs (issue 14): the round-trip latency a client
// sees through the proxy against the same echo server reached directly (p50,
// p99), and the proxy process's CPU per relayed message under load.
//
//   closewise_proxy_bench CLI [ROUNDS] [SIZE] [CONNECTIONS] [LOAD_MESSAGES]
//
// CLI is the closewise binary: it runs the upstream (`serve --echo`) and the
// proxy (`proxy`) as child processes. Latency: one connection, ROUNDS
// sequential echoes of SIZE bytes, direct then through the proxy. Load:
// CONNECTIONS connections each keeping one message in flight until
// LOAD_MESSAGES echoes in all; the proxy's CPU (utime + stime from
// /proc/PID/stat) over that phase, divided by the messages it relayed (two
// per echo: one each way). One JSON line per measurement on stdout.
#include <closewise/net/client.hpp>

#include <boost/asio/io_context.hpp>
#include <nlohmann/json.hpp>

#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace {

using clock_type = std::chrono::steady_clock;

/// A child process whose first stdout line (the listening event) gives its port.
struct child {
  pid_t pid = -1;
  int port = 0;
  child(std::vector<std::string> args) {
    int fds[2];
    if (pipe(fds) != 0) return;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
    posix_spawn_file_actions_addclose(&fa, fds[0]);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    if (posix_spawn(&pid, argv[0], &fa, nullptr, argv.data(), environ) != 0) pid = -1;
    posix_spawn_file_actions_destroy(&fa);
    close(fds[1]);
    std::string line;
    char c;
    while (read(fds[0], &c, 1) == 1 && c != '\n') line.push_back(c);
    // The rest of its output (serve prints every message) is read and dropped.
    drain = std::thread([fd = fds[0]] {
      char buf[4096];
      while (read(fd, buf, sizeof buf) > 0) {
      }
      close(fd);
    });
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_object() && j.contains("port")) port = j["port"].get<int>();
  }
  ~child() {
    if (pid > 0) {
      kill(pid, SIGKILL);
      int st;
      waitpid(pid, &st, 0);
    }
    if (drain.joinable()) drain.join();
  }
  std::thread drain;
  /// utime + stime of the process, in seconds.
  double cpu_seconds() const {
    std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
    std::string s((std::istreambuf_iterator<char>(f)), {});
    std::istringstream in(s.substr(s.rfind(')') + 2));
    std::string field;
    unsigned long ut = 0, st = 0;
    for (int i = 3; i <= 15 && in >> field; ++i) {
      if (i == 14) ut = std::stoul(field);
      if (i == 15) st = std::stoul(field);
    }
    return static_cast<double>(ut + st) / static_cast<double>(sysconf(_SC_CLK_TCK));
  }
};

/// Round trips of one connection, sequential: each echo's time in microseconds.
std::vector<double> round_trips(const std::string& url, int rounds, std::size_t size) {
  boost::asio::io_context ioc(1);
  closewise::net::client_config cfg;
  cfg.use_strand = false;
  closewise::net::client c(ioc, cfg);
  const std::string msg(size, 'x');
  std::vector<double> us;
  us.reserve(static_cast<std::size_t>(rounds));
  clock_type::time_point sent;
  auto send = [&] {
    sent = clock_type::now();
    (void)c.send_binary(msg);
  };
  c.on_open([&](const closewise::net::open_info&) { send(); });
  c.on_message([&](closewise::proto::message_kind, std::string_view) {
    us.push_back(std::chrono::duration<double, std::micro>(clock_type::now() - sent).count());
    if (static_cast<int>(us.size()) < rounds)
      send();
    else
      (void)c.close();
  });
  if (c.connect(url)) return us;
  ioc.run();
  return us;
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<std::size_t>(p * static_cast<double>(v.size())))];
}

/// CONNECTIONS connections, one message in flight each, until `total` echoes.
double load(const std::string& url, int connections, long total, std::size_t size) {
  boost::asio::io_context ioc(1);
  closewise::net::client_config cfg;
  cfg.use_strand = false;
  std::vector<std::unique_ptr<closewise::net::client>> cs;
  const std::string msg(size, 'x');
  long echoed = 0, sent = 0;
  const auto start = clock_type::now();
  for (int i = 0; i < connections; ++i) {
    cs.push_back(std::make_unique<closewise::net::client>(ioc, cfg));
    auto* c = cs.back().get();
    auto next = [&, c] {
      if (sent < total) {
        ++sent;
        (void)c->send_binary(msg);
      } else {
        (void)c->close();
      }
    };
    c->on_open([next](const closewise::net::open_info&) { next(); });
    c->on_message([&, next](closewise::proto::message_kind, std::string_view) {
      ++echoed;
      next();
    });
    (void)c->connect(url);
  }
  ioc.run();
  return std::chrono::duration<double>(clock_type::now() - start).count();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s CLI [ROUNDS] [SIZE] [CONNECTIONS] [LOAD_MESSAGES]\n", argv[0]);
    return 2;
  }
  const std::string cli = argv[1];
  const int rounds = argc > 2 ? std::atoi(argv[2]) : 20000;
  const std::size_t size = argc > 3 ? std::stoul(argv[3]) : 32;
  const int conns = argc > 4 ? std::atoi(argv[4]) : 100;
  const long load_msgs = argc > 5 ? std::atol(argv[5]) : 200000;

  child up({cli, "serve", "--json", "--echo", "--port", "0"});
  const std::string up_url = "ws://127.0.0.1:" + std::to_string(up.port);
  child px({cli, "proxy", "--json", "--listen", "127.0.0.1:0", "--upstream", up_url});
  const std::string px_url = "ws://127.0.0.1:" + std::to_string(px.port);
  if (up.port == 0 || px.port == 0) {
    std::fprintf(stderr, "proxy_bench: the serve or proxy child did not start\n");
    return 1;
  }
  for (const auto& [name, url] : {std::pair{"direct", up_url}, std::pair{"proxy", px_url}}) {
    const auto us = round_trips(url, rounds, size);
    std::printf("%s\n", nlohmann::json{{"measure", "round_trip_us"},
                                       {"path", name},
                                       {"rounds", us.size()},
                                       {"size", size},
                                       {"p50", percentile(us, 0.50)},
                                       {"p99", percentile(us, 0.99)}}
                            .dump()
                            .c_str());
  }
  const double cpu0 = px.cpu_seconds();
  const double secs = load(px_url, conns, load_msgs, size);
  const double cpu = px.cpu_seconds() - cpu0;
  // Two relayed messages per echo: client -> upstream and back.
  std::printf("%s\n", nlohmann::json{{"measure", "proxy_cpu_per_message_us"},
                                     {"connections", conns},
                                     {"echoes", load_msgs},
                                     {"size", size},
                                     {"seconds", secs},
                                     {"proxy_cpu_seconds", cpu},
                                     {"proxy_core_use", secs > 0 ? cpu / secs : 0},
                                     {"cpu_us_per_relayed_message",
                                      cpu * 1e6 / (2.0 * static_cast<double>(load_msgs))}}
                          .dump()
                          .c_str());
  return 0;
}
