// closewise_tls_loadgen: the load generator of the TLS benchmark (bench/tls).
//
// Modes, each against one wss echo server on 127.0.0.1:PORT whose pid is given:
//   echo   --conns N --size S: N connections, each with one masked binary
//          message of S bytes in flight; msgs/s over the window.
//   cycles --conns K: K loops of TCP connect, TLS handshake, upgrade, close
//          1000, the server's close, then its close_notify/FIN; cycles/s.
//   idle   --conns N: N upgraded connections held open; the server's RSS
//          growth per connection, 1 s after the last one opened.
// echo and cycles run on Asio coroutines with ssl::stream (verification
// off); idle uses blocking OpenSSL with SSL_MODE_RELEASE_BUFFERS, so that
// 10,000 client connections fit beside the server. Every mode also reports
// the server's CPU per message/cycle (utime+stime from /proc/PID/stat).
// Output: one line `result mode=... key=value ...`.
#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>

#include <netinet/in.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <arpa/inet.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;
using tcp = asio::ip::tcp;
using asio::awaitable;
using asio::use_awaitable;
using clk = std::chrono::steady_clock;

namespace {

struct options {
  std::string mode = "echo";
  unsigned short port = 0;
  int pid = 0;
  int conns = 100;
  std::size_t size = 32;
  double seconds = 3;
  double warmup = 1;
};

const char upgrade_request[] =
    "GET / HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";

/// A masked binary frame (key 00 00 00 00, so the payload is sent as is).
std::string frame(std::uint8_t opcode, std::string_view payload) {
  std::string f;
  f += static_cast<char>(0x80 | opcode);
  const std::size_t n = payload.size();
  if (n < 126) {
    f += static_cast<char>(0x80 | n);
  } else if (n < 65536) {
    f += static_cast<char>(0x80 | 126);
    for (int s = 8; s >= 0; s -= 8) f += static_cast<char>((n >> s) & 0xff);
  } else {
    f += static_cast<char>(0x80 | 127);
    for (int s = 56; s >= 0; s -= 8) f += static_cast<char>((n >> s) & 0xff);
  }
  f.append(4, '\0');
  f.append(payload);
  return f;
}

double cpu_seconds(int pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string s((std::istreambuf_iterator<char>(f)), {});
  const auto p = s.rfind(')');
  if (p == std::string::npos) return 0;
  std::istringstream in(s.substr(p + 2));
  std::string tok;
  unsigned long long ut = 0, st = 0;
  for (int i = 3; i <= 15 && in >> tok; ++i) {
    if (i == 14) ut = std::stoull(tok);
    if (i == 15) st = std::stoull(tok);
  }
  return static_cast<double>(ut + st) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

long rss_kib(int pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::atol(line.c_str() + 6);
  return 0;
}

/// Bytes of one whole server frame at the front of `b`, or 0 while incomplete.
std::size_t frame_length(const std::string& b) {
  if (b.size() < 2) return 0;
  std::size_t len = static_cast<unsigned char>(b[1]) & 0x7f, hdr = 2;
  if (len == 126) {
    if (b.size() < 4) return 0;
    len = (static_cast<unsigned char>(b[2]) << 8) | static_cast<unsigned char>(b[3]);
    hdr = 4;
  } else if (len == 127) {
    if (b.size() < 10) return 0;
    len = 0;
    for (int i = 2; i < 10; ++i) len = (len << 8) | static_cast<unsigned char>(b[i]);
    hdr = 10;
  }
  return b.size() >= hdr + len ? hdr + len : 0;
}

struct counters {
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> done{0};
  std::atomic<std::uint64_t> errors{0};
};

awaitable<void> open_ws(ssl::stream<tcp::socket>& s, unsigned short port, std::string& in) {
  co_await s.next_layer().async_connect({asio::ip::make_address("127.0.0.1"), port}, use_awaitable);
  s.next_layer().set_option(tcp::no_delay(true));
  co_await s.async_handshake(ssl::stream_base::client, use_awaitable);
  co_await asio::async_write(s, asio::buffer(upgrade_request, sizeof upgrade_request - 1),
                             use_awaitable);
  char buf[4096];
  while (in.find("\r\n\r\n") == std::string::npos)
    in.append(buf, co_await s.async_read_some(asio::buffer(buf), use_awaitable));
  if (in.rfind("HTTP/1.1 101", 0) != 0) throw std::runtime_error("upgrade refused");
  in.erase(0, in.find("\r\n\r\n") + 4);
}

awaitable<void> echo_loop(ssl::context& ctx, const options& o, counters& c) {
  try {
    ssl::stream<tcp::socket> s(co_await asio::this_coro::executor, ctx);
    std::string in;
    co_await open_ws(s, o.port, in);
    const std::string msg = frame(0x2, std::string(o.size, 'x'));
    std::vector<char> buf(std::max<std::size_t>(o.size + 16, 4096));
    while (!c.stop) {
      co_await asio::async_write(s, asio::buffer(msg), use_awaitable);
      std::size_t n;
      while ((n = frame_length(in)) == 0)
        in.append(buf.data(), co_await s.async_read_some(asio::buffer(buf), use_awaitable));
      in.erase(0, n);
      ++c.done;
    }
  } catch (const std::exception&) {
    ++c.errors;
  }
}

awaitable<void> cycle_loop(ssl::context& ctx, const options& o, counters& c) {
  const std::string close_frame = frame(0x8, std::string("\x03\xE8", 2));
  while (!c.stop) {
    try {
      ssl::stream<tcp::socket> s(co_await asio::this_coro::executor, ctx);
      std::string in;
      co_await open_ws(s, o.port, in);
      co_await asio::async_write(s, asio::buffer(close_frame), use_awaitable);
      char buf[256];
      boost::system::error_code ec;
      // The close echo, then the end of the stream (close_notify or FIN).
      while (!ec) {
        const std::size_t n =
            co_await s.async_read_some(asio::buffer(buf), asio::redirect_error(use_awaitable, ec));
        in.append(buf, n);
      }
      if (in.size() < 4 || static_cast<unsigned char>(in[0]) != 0x88) ++c.errors;
      ++c.done;
    } catch (const std::exception&) {
      ++c.errors;
    }
  }
}

int run_async(const options& o) {
  asio::io_context ioc(1);
  ssl::context ctx(ssl::context::tls_client);
  ctx.set_verify_mode(ssl::verify_none);
  counters c;
  for (int i = 0; i < o.conns; ++i) {
    if (o.mode == "echo") {
      asio::co_spawn(ioc, echo_loop(ctx, o, c), asio::detached);
    } else {
      asio::co_spawn(ioc, cycle_loop(ctx, o, c), asio::detached);
    }
  }
  std::uint64_t n0 = 0;
  double cpu0 = 0;
  clk::time_point t0;
  asio::steady_timer warm(
      ioc, std::chrono::duration_cast<clk::duration>(std::chrono::duration<double>(o.warmup)));
  asio::steady_timer end(ioc, std::chrono::duration_cast<clk::duration>(
                                  std::chrono::duration<double>(o.warmup + o.seconds)));
  warm.async_wait([&](auto) {
    n0 = c.done;
    cpu0 = cpu_seconds(o.pid);
    t0 = clk::now();
  });
  std::uint64_t n = 0;
  double secs = 0, cpu = 0;
  end.async_wait([&](auto) {
    n = c.done - n0;
    cpu = cpu_seconds(o.pid) - cpu0;
    secs = std::chrono::duration<double>(clk::now() - t0).count();
    c.stop = true;
    ioc.stop();
  });
  ioc.run();
  std::printf(
      "result mode=%s conns=%d size=%zu count=%llu rate=%.1f server_cpu_pct=%.1f "
      "server_us_per=%.2f errors=%llu\n",
      o.mode.c_str(), o.conns, o.size, static_cast<unsigned long long>(n), n / secs,
      100.0 * cpu / secs, n ? 1e6 * cpu / static_cast<double>(n) : 0.0,
      static_cast<unsigned long long>(c.errors.load()));
  return c.errors != 0 && n == 0;
}

int run_idle(const options& o) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
  std::vector<std::pair<int, SSL*>> held;
  // One echo first, so the server's start-up allocations fall in the baseline.
  auto open_one = [&]() -> bool {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(o.port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) return false;
    SSL* s = SSL_new(ctx);
    SSL_set_fd(s, fd);
    std::size_t n = 0;
    if (SSL_connect(s) != 1 ||
        SSL_write_ex(s, upgrade_request, sizeof upgrade_request - 1, &n) != 1)
      return false;
    std::string in;
    char buf[1024];
    while (in.find("\r\n\r\n") == std::string::npos) {
      if (SSL_read_ex(s, buf, sizeof buf, &n) != 1) return false;
      in.append(buf, n);
    }
    held.emplace_back(fd, s);
    return in.rfind("HTTP/1.1 101", 0) == 0;
  };
  if (!open_one()) return 1;
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  const long before = rss_kib(o.pid);
  for (int i = 0; i < o.conns; ++i) {
    if (!open_one()) {
      std::fprintf(stderr, "idle: connection %d failed\n", i);
      return 1;
    }
  }
  std::this_thread::sleep_for(std::chrono::seconds(1));
  const long after = rss_kib(o.pid);
  std::printf("result mode=idle conns=%d rss_before_kib=%ld rss_after_kib=%ld kib_per_conn=%.2f\n",
              o.conns, before, after, static_cast<double>(after - before) / o.conns);
  for (auto& [fd, s] : held) {
    SSL_free(s);
    ::close(fd);
  }
  SSL_CTX_free(ctx);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  options o;
  if (argc > 1) o.mode = argv[1];
  for (int i = 2; i + 1 < argc; i += 2) {
    const std::string k = argv[i];
    const char* v = argv[i + 1];
    if (k == "--port")
      o.port = static_cast<unsigned short>(std::atoi(v));
    else if (k == "--pid")
      o.pid = std::atoi(v);
    else if (k == "--conns")
      o.conns = std::atoi(v);
    else if (k == "--size")
      o.size = std::strtoull(v, nullptr, 10);
    else if (k == "--seconds")
      o.seconds = std::atof(v);
    else if (k == "--warmup")
      o.warmup = std::atof(v);
    else {
      std::fprintf(stderr, "unknown option %s\n", k.c_str());
      return 2;
    }
  }
  if (o.port == 0 || o.pid == 0) {
    std::fprintf(stderr,
                 "usage: closewise_tls_loadgen echo|cycles|idle --port P --pid PID "
                 "[--conns N] [--size S] [--seconds T] [--warmup W]\n");
    return 2;
  }
  return o.mode == "idle" ? run_idle(o) : run_async(o);
}
