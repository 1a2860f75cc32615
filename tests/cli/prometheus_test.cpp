// End to end against a real Prometheus (issue 16): `serve --metrics` is
// scraped by Prometheus 2.42, and its query API returns the exact counts of a
// scripted run of closes.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include "cli/cli_json.hpp"

namespace {

using namespace std::chrono_literals;
using closewise::test::cli;
using closewise::test::cli_process;
using closewise::test::next_event;
using closewise::test::next_json;
using closewise::test::run_cli;

bool in_ci() {
  const char* ci = std::getenv("CI");
  return ci && std::string(ci) == "true";
}

std::string prometheus_path() {
  if (const char* p = std::getenv("CLOSEWISE_PROMETHEUS")) return p;
  return "/usr/bin/prometheus";
}

/// A free loopback port: bound with port 0, read back, released. Prometheus
/// takes its listen address only as a flag, so the port is probed first.
int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  int port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0)
    port = ntohs(a.sin_port);
  ::close(fd);
  return port;
}

/// GET `target` from 127.0.0.1:`port` with HTTP/1.0 (the server closes after
/// the answer); the body, or empty on any failure. Bounded by 5 s.
std::string http_get(int port, const std::string& target) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string out;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
    const std::string req = "GET " + target + " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
    (void)!::send(fd, req.data(), req.size(), MSG_NOSIGNAL);
    const auto end = std::chrono::steady_clock::now() + 5s;
    for (;;) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          end - std::chrono::steady_clock::now());
      pollfd p{fd, POLLIN, 0};
      if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) <= 0) break;
      char buf[4096];
      const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0) break;
      out.append(buf, static_cast<std::size_t>(n));
    }
  }
  ::close(fd);
  const auto body = out.find("\r\n\r\n");
  return body == std::string::npos ? std::string() : out.substr(body + 4);
}

std::string url_encode(const std::string& s) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '_' || c == '-' || c == '.') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

/// The value of an instant query with exactly one series, as Prometheus
/// prints it ("3"); "<none>" while the series is not scraped yet.
std::string query_one(int port, const std::string& promql, std::string& raw) {
  raw = http_get(port, "/api/v1/query?query=" + url_encode(promql));
  const auto j = nlohmann::json::parse(raw, nullptr, false);
  if (j.is_discarded() || j.value("status", "") != "success") return "<error>";
  const auto& r = j["data"]["result"];
  if (!r.is_array() || r.empty()) return "<none>";
  if (r.size() != 1) return "<" + std::to_string(r.size()) + " series>";
  return r[0]["value"][1].get<std::string>();
}

/// A temporary directory, removed with everything in it (Prometheus's data).
struct scratch_dir {
  std::filesystem::path path;
  scratch_dir() {
    std::string t = (std::filesystem::temp_directory_path() / "closewise-prom-XXXXXX").string();
    if (::mkdtemp(t.data())) path = t;
  }
  ~scratch_dir() {
    std::error_code ec;
    if (!path.empty()) std::filesystem::remove_all(path, ec);
  }
};

TEST(cli_prometheus, a_real_prometheus_scrapes_serve_and_its_query_api_returns_the_exact_counts) {
  if (!std::filesystem::exists(prometheus_path())) {
    if (in_ci())
      FAIL() << "prometheus not found at " << prometheus_path() << " (scripts/deps.sh installs it)";
    GTEST_SKIP() << "prometheus not installed";
  }
  cli_process serve(cli({"serve", "--json", "--scripted-paths", "--metrics", "127.0.0.1:0"}));
  const auto listening = next_json(serve);
  ASSERT_EQ(listening["event"], "listening") << listening;
  const auto metrics = next_json(serve);
  ASSERT_EQ(metrics["event"], "metrics_listening") << metrics;
  const std::string ws = "ws://127.0.0.1:" + std::to_string(listening["port"].get<int>());
  const int metrics_port = metrics["port"].get<int>();

  // The scripted run: 3 x 1012, 2 x 4000, 1 x 1000, and one broken script (400).
  const std::vector<std::string> paths{"/close/1012", "/close/4000", "/close/1012",
                                       "/close/1000", "/close/4000", "/close/1012"};
  for (const auto& p : paths) {
    const auto r = run_cli(cli({"connect", ws + p, "--json", "--reconnect", "never"}));
    ASSERT_EQ(r.status == 0 || r.status == 1, true) << p << ": " << r.err;
    // serve prints its close after the registry counted it.
    ASSERT_EQ(next_event(serve, "close")["event"], "close") << p;
  }
  (void)run_cli(cli({"connect", ws + "/close/1005", "--json", "--reconnect", "never"}));

  scratch_dir dir;
  ASSERT_FALSE(dir.path.empty());
  const auto config = dir.path / "prometheus.yml";
  {
    std::ofstream f(config);
    f << "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
      << "scrape_configs:\n  - job_name: closewise\n    static_configs:\n"
      << "      - targets: ['127.0.0.1:" << metrics_port << "']\n";
  }
  const int prom_port = free_port();
  ASSERT_NE(prom_port, 0);
  cli_process prom({prometheus_path(), "--config.file=" + config.string(),
                    "--storage.tsdb.path=" + (dir.path / "data").string(),
                    "--web.listen-address=127.0.0.1:" + std::to_string(prom_port),
                    "--log.level=warn"});

  const std::vector<std::pair<std::string, std::string>> expected{
      {R"(closewise_server_closes_total{code="1012",initiator="local",clean="true"})", "3"},
      {R"(closewise_server_closes_total{code="4000",initiator="local",clean="true"})", "2"},
      {R"(closewise_server_closes_total{code="1000",initiator="local",clean="true"})", "1"},
      {R"(sum(closewise_server_closes_total))", "6"},
      {R"(closewise_server_connections_opened_total)", "6"},
      {R"(closewise_server_open_connections)", "0"},
      {R"(closewise_server_handshake_refusals_total{status="400"})", "1"},
  };
  // Synchronize on the scrape: poll the query API until the first series is
  // there. Prometheus starts in 1-3 s and scrapes every 1 s; 60 s leaves room
  // for a loaded 2-core machine under sanitizers and still ends a broken run.
  std::string raw;
  const auto end = std::chrono::steady_clock::now() + 60s;
  while (query_one(prom_port, "up{job=\"closewise\"}", raw) != "1") {
    if (std::chrono::steady_clock::now() > end) break;
    if (auto st = prom.wait(0ms))
      FAIL() << "prometheus exited with " << *st << ": " << prom.read_stderr(1s);
    poll(nullptr, 0, 200);
  }
  ASSERT_EQ(query_one(prom_port, "up{job=\"closewise\"}", raw), "1") << raw;
  for (const auto& [q, want] : expected) {
    // Every value is final before the first scrape, so the first scrape that
    // shows `up` shows them all.
    EXPECT_EQ(query_one(prom_port, q, raw), want) << q << "\n" << raw;
  }
  prom.signal(SIGTERM);
  EXPECT_TRUE(prom.wait(20s).has_value());
  serve.signal(SIGTERM);
  EXPECT_EQ(serve.wait(10s), std::optional<int>(0));
}

}  // namespace
