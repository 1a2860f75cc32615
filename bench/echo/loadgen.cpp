// closewise_echo_loadgen: the WebSocket load generator of issue 4.
//
// No WebSocket library: frames are encoded once (masked, as RFC 6455 §5.3
// requires of a client) and the same bytes are written for every message, so
// the client spends its cycles on syscalls, not on framing. Boost.Asio
// connects and upgrades; the measured echo loop runs on plain epoll (see
// echo_conn).
// It targets 127.0.0.1 only and every mode is bounded in time.
//
// Modes (one result line `result key=value ...` on stdout):
//   echo    N connections, each with `--depth` messages in flight (1 by
//           default, so a round trip is a latency), for --warmup + --seconds.
//           Reports msgs/s, p50/p99 round trip, server and client CPU.
//   cycles  `--conns` workers each loop connect + upgrade + close handshake +
//           wait for the server's TCP close. Reports cycles/s and the close
//           handshake latency (close sent -> close received, and -> EOF).
//   idle    opens --conns upgraded connections, holds them, and reads the
//           server's VmRSS before and after (--server-pid) to give the
//           resident memory per idle server connection.
#include <boost/asio.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <latch>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using clk = std::chrono::steady_clock;
using boost::system::error_code;

namespace {

// ---------------------------------------------------------------- options

struct options {
  std::string mode;
  std::string host = "127.0.0.1";
  std::uint16_t port = 0;
  std::size_t conns = 1;
  std::size_t size = 32;
  unsigned threads = 1;
  unsigned depth = 1;
  double warmup = 1.0;
  double seconds = 5.0;
  double settle = 1.0;  // idle: wait before reading VmRSS
  double hold = 0.0;    // idle: extra time to hold the connections
  bool text = false;
  int server_pid = 0;
  int server_core = -1, client_core = -1;
};

[[noreturn]] void usage(const char* msg) {
  std::fprintf(stderr,
               "error: %s\n"
               "usage: closewise_echo_loadgen echo|cycles|idle --port P [--host 127.0.0.1]\n"
               "  [--conns N] [--size BYTES] [--threads T] [--depth D] [--warmup S]\n"
               "  [--seconds S] [--text] [--server-pid PID] [--server-core K] [--client-core K]\n"
               "  [--settle S] [--hold S]\n",
               msg);
  std::exit(2);
}

double to_double(const char* s) {
  char* end = nullptr;
  const double v = std::strtod(s, &end);
  if (end == s || *end != '\0' || v < 0) usage("bad number");
  return v;
}

std::uint64_t to_uint(const char* s) {
  std::uint64_t v = 0;
  const auto* last = s + std::strlen(s);
  auto [p, ec] = std::from_chars(s, last, v);
  if (ec != std::errc{} || p != last) usage("bad integer");
  return v;
}

options parse(int argc, char** argv) {
  if (argc < 2) usage("missing mode");
  options o;
  o.mode = argv[1];
  if (o.mode != "echo" && o.mode != "cycles" && o.mode != "idle") usage("unknown mode");
  for (int i = 2; i < argc; ++i) {
    const std::string_view k = argv[i];
    auto val = [&]() -> const char* {
      if (i + 1 >= argc) usage("missing value");
      return argv[++i];
    };
    if (k == "--host")
      o.host = val();
    else if (k == "--port")
      o.port = static_cast<std::uint16_t>(to_uint(val()));
    else if (k == "--conns")
      o.conns = to_uint(val());
    else if (k == "--size")
      o.size = to_uint(val());
    else if (k == "--threads")
      o.threads = static_cast<unsigned>(to_uint(val()));
    else if (k == "--depth")
      o.depth = static_cast<unsigned>(to_uint(val()));
    else if (k == "--warmup")
      o.warmup = to_double(val());
    else if (k == "--seconds")
      o.seconds = to_double(val());
    else if (k == "--settle")
      o.settle = to_double(val());
    else if (k == "--hold")
      o.hold = to_double(val());
    else if (k == "--server-pid")
      o.server_pid = static_cast<int>(to_uint(val()));
    else if (k == "--server-core")
      o.server_core = static_cast<int>(to_uint(val()));
    else if (k == "--client-core")
      o.client_core = static_cast<int>(to_uint(val()));
    else if (k == "--text")
      o.text = true;
    else
      usage("unknown option");
  }
  if (o.port == 0) usage("--port is required");
  if (o.conns == 0 || o.threads == 0 || o.depth == 0)
    usage("--conns, --threads, --depth must be > 0");
  if (o.threads > o.conns) o.threads = static_cast<unsigned>(o.conns);
  // Bounded by construction: no run may last longer than ten minutes.
  if (o.warmup + o.seconds + o.settle + o.hold > 600) usage("a run is limited to 600 s");
  error_code ec;
  const auto addr = asio::ip::make_address(o.host, ec);
  if (ec) usage("--host must be an IP address");
  if (!addr.is_loopback()) usage("load goes to loopback addresses only");
  return o;
}

// ------------------------------------------------------------ /proc probes

// utime + stime of a process in seconds, or -1 when it cannot be read.
double proc_cpu_seconds(int pid) {
  if (pid <= 0) return -1;
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(f, line)) return -1;
  // The command name may contain spaces; fields restart after the last ')'.
  const auto rp = line.rfind(')');
  if (rp == std::string::npos) return -1;
  std::istringstream in(line.substr(rp + 2));
  std::string field;
  unsigned long long utime = 0, stime = 0;
  for (int idx = 3; in >> field; ++idx) {  // field 3 is the state
    if (idx == 14) utime = std::stoull(field);
    if (idx == 15) {
      stime = std::stoull(field);
      break;
    }
  }
  return static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

double self_cpu_seconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  auto tv = [](timeval t) {
    return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6;
  };
  return tv(ru.ru_utime) + tv(ru.ru_stime);
}

// VmRSS of a process in KiB, or -1.
long proc_rss_kib(int pid) {
  if (pid <= 0) return -1;
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  }
  return -1;
}

// Per-core accounting from /proc/stat, in seconds: busy (everything but idle
// and iowait, softirq included) and softirq alone. Index 0 is the machine
// total, index 1 + k is core k.
struct core_times {
  std::vector<double> busy, softirq;
};

core_times read_core_times() {
  core_times t;
  std::ifstream f("/proc/stat");
  std::string line;
  const double hz = static_cast<double>(sysconf(_SC_CLK_TCK));
  while (std::getline(f, line)) {
    if (line.rfind("cpu", 0) != 0) break;
    std::istringstream in(line);
    std::string name;
    unsigned long long v[10] = {};
    in >> name;
    for (auto& x : v) in >> x;
    // user nice system idle iowait irq softirq steal guest guest_nice
    t.busy.push_back(static_cast<double>(v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) / hz);
    t.softirq.push_back(static_cast<double>(v[6]) / hz);
  }
  return t;
}

struct cpu_sample {
  double server = -1, self = 0;
  core_times cores;
  clk::time_point at;
  static cpu_sample take(int pid) {
    return {proc_cpu_seconds(pid), self_cpu_seconds(), read_core_times(), clk::now()};
  }
};

// Which cores the server and this process are pinned to (for the report).
int g_server_core = -1, g_client_core = -1;

// The CPU columns of a result line, each in percent of one core:
//   server_cpu, client_cpu  utime+stime of the server process and of this one;
//   server_core, client_core how busy their cores were (softirq included, so
//                            the network stack's work done there counts);
//   server_core_softirq, client_core_softirq  the softirq share of those cores;
//   softirq_cpu             softirq time on all cores (with tick accounting
//                            it is also counted in the process that ran it);
//   other_cpu               machine busy time minus both processes: other
//                            tenants (and softirq run outside our processes).
std::string cpu_fields(const cpu_sample& a, const cpu_sample& b) {
  const double wall = std::chrono::duration<double>(b.at - a.at).count();
  auto pct = [&](double x) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1f", wall > 0 ? std::max(0.0, 100.0 * x / wall) : 0.0);
    return std::string(buf);
  };
  auto core = [&](int k) -> std::string {
    const auto i = static_cast<std::size_t>(k + 1);
    if (k < 0 || i >= a.cores.busy.size() || i >= b.cores.busy.size()) return "na";
    return pct(b.cores.busy[i] - a.cores.busy[i]);
  };
  const bool have_server = a.server >= 0 && b.server >= 0;
  std::string out = "server_cpu=" + (have_server ? pct(b.server - a.server) : std::string("na"));
  out += " client_cpu=" + pct(b.self - a.self);
  auto core_soft = [&](int k) -> std::string {
    const auto i = static_cast<std::size_t>(k + 1);
    if (k < 0 || i >= a.cores.softirq.size() || i >= b.cores.softirq.size()) return "na";
    return pct(b.cores.softirq[i] - a.cores.softirq[i]);
  };
  out += " server_core=" + core(g_server_core) + " client_core=" + core(g_client_core);
  out += " server_core_softirq=" + core_soft(g_server_core) +
         " client_core_softirq=" + core_soft(g_client_core);
  if (!a.cores.busy.empty() && !b.cores.busy.empty()) {
    const double soft = b.cores.softirq[0] - a.cores.softirq[0];
    out += " softirq_cpu=" + pct(soft);
    if (have_server) {
      // With tick-based accounting (no CONFIG_IRQ_TIME_ACCOUNTING, as here) the
      // softirq work done in a process's context is also in its stime, so it is
      // not subtracted again.
      const double other =
          (b.cores.busy[0] - a.cores.busy[0]) - (b.server - a.server) - (b.self - a.self);
      out += " other_cpu=" + pct(other);
    }
  }
  return out;
}

// ----------------------------------------------------------- wire helpers

// The RFC 6455 §1.3 sample key and its accept value: the handshake check is
// a substring search, not a SHA-1 per connection.
constexpr std::string_view sample_key = "dGhlIHNhbXBsZSBub25jZQ==";
constexpr std::string_view sample_accept = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

std::string upgrade_request(const options& o) {
  std::string r = "GET / HTTP/1.1\r\nHost: " + o.host + ":" + std::to_string(o.port) +
                  "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ";
  r += sample_key;
  r += "\r\nSec-WebSocket-Version: 13\r\n\r\n";
  return r;
}

// One masked client frame (RFC 6455 §5.2, shortest length form).
std::vector<std::uint8_t> client_frame(std::uint8_t opcode,
                                       const std::vector<std::uint8_t>& payload,
                                       std::uint32_t key) {
  std::vector<std::uint8_t> f;
  f.reserve(payload.size() + 14);
  f.push_back(static_cast<std::uint8_t>(0x80 | opcode));
  const std::uint64_t n = payload.size();
  if (n < 126) {
    f.push_back(static_cast<std::uint8_t>(0x80 | n));
  } else if (n <= 0xFFFF) {
    f.push_back(0x80 | 126);
    f.push_back(static_cast<std::uint8_t>(n >> 8));
    f.push_back(static_cast<std::uint8_t>(n));
  } else {
    f.push_back(0x80 | 127);
    for (int s = 56; s >= 0; s -= 8) f.push_back(static_cast<std::uint8_t>(n >> s));
  }
  std::array<std::uint8_t, 4> k{};
  std::memcpy(k.data(), &key, 4);
  f.insert(f.end(), k.begin(), k.end());
  for (std::size_t i = 0; i < payload.size(); ++i) f.push_back(payload[i] ^ k[i % 4]);
  return f;
}

std::vector<std::uint8_t> close_frame_1000() {
  return client_frame(0x8, {0x03, 0xE8}, 0x5a1ec0deu);
}

// Incremental reader of server frames. It does not keep payloads, only
// counts them, except for control frames which are short.
class frame_reader {
 public:
  struct event {
    enum kind_t { none, message, close, ping, pong, protocol_error } kind = none;
    std::uint64_t bytes = 0;
  };

  // Consumes up to `n` bytes and stops after the first complete message or
  // control frame; returns how many bytes it used.
  std::size_t feed(const std::uint8_t* p, std::size_t n, event& ev) {
    const std::uint8_t* const start = p;
    ev = {};
    while (n > 0) {
      if (in_header_) {
        const std::size_t take = std::min(need_ - have_, n);
        std::memcpy(hdr_ + have_, p, take);
        have_ += take;
        p += take;
        n -= take;
        if (have_ == 2) {
          need_ = 2 +
                  ((hdr_[1] & 0x7F) == 126   ? 2
                   : (hdr_[1] & 0x7F) == 127 ? 8
                                             : 0) +
                  ((hdr_[1] & 0x80) ? 4 : 0);
        }
        if (have_ < need_) continue;
        fin_ = (hdr_[0] & 0x80) != 0;
        op_ = hdr_[0] & 0x0F;
        std::uint64_t len = hdr_[1] & 0x7F;
        if (len == 126) {
          len = (std::uint64_t{hdr_[2]} << 8) | hdr_[3];
        } else if (len == 127) {
          len = 0;
          for (int i = 0; i < 8; ++i) len = (len << 8) | hdr_[2 + i];
        }
        if (hdr_[1] & 0x80) {  // RFC 6455 §5.1: a server must not mask
          ev.kind = event::protocol_error;
          return static_cast<std::size_t>(p - start);
        }
        remaining_ = len;
        ctrl_len_ = 0;
        in_header_ = false;
        have_ = 0;
        need_ = 2;
      } else {
        const std::size_t take = static_cast<std::size_t>(std::min<std::uint64_t>(remaining_, n));
        if (op_ & 0x8) {
          const std::size_t keep = std::min(take, sizeof ctrl_ - ctrl_len_);
          std::memcpy(ctrl_ + ctrl_len_, p, keep);
          ctrl_len_ += keep;
        } else {
          msg_bytes_ += take;
        }
        remaining_ -= take;
        p += take;
        n -= take;
      }
      if (!in_header_ && remaining_ == 0) {
        in_header_ = true;
        if (op_ == 0x8) {
          ev.kind = event::close;
        } else if (op_ == 0x9) {
          ev.kind = event::ping;
        } else if (op_ == 0xA) {
          ev.kind = event::pong;
        } else if (fin_) {
          ev.kind = event::message;
          ev.bytes = msg_bytes_;
          msg_bytes_ = 0;
        }
        if (ev.kind != event::none) break;
      }
    }
    return static_cast<std::size_t>(p - start);
  }

 private:
  std::uint8_t hdr_[14]{};
  std::size_t have_ = 0, need_ = 2;
  bool in_header_ = true, fin_ = false;
  std::uint8_t op_ = 0;
  std::uint64_t remaining_ = 0, msg_bytes_ = 0;
  std::uint8_t ctrl_[125]{};
  std::size_t ctrl_len_ = 0;
};

// Connect and upgrade one socket (coroutine). Leftover bytes after the
// response head are appended to `extra`.
asio::awaitable<error_code> ws_open(tcp::socket& s, const tcp::endpoint& ep, const std::string& req,
                                    std::string& extra) {
  auto tok = asio::as_tuple(asio::use_awaitable);
  auto [ec] = co_await s.async_connect(ep, tok);
  if (ec) co_return ec;
  s.set_option(tcp::no_delay(true), ec);
  auto [wec, wn] = co_await asio::async_write(s, asio::buffer(req), tok);
  if (wec) co_return wec;
  std::string head;
  auto [rec, rn] = co_await asio::async_read_until(s, asio::dynamic_buffer(head), "\r\n\r\n", tok);
  if (rec) co_return rec;
  const std::string_view h(head.data(), rn);
  if (h.rfind("HTTP/1.1 101", 0) != 0 || h.find(sample_accept) == std::string_view::npos)
    co_return asio::error::make_error_code(asio::error::connection_refused);
  extra.append(head, rn);
  co_return error_code{};
}

// Sends a masked 1000 close and reads until EOF. Returns true when a close
// frame arrived before the server closed TCP.
asio::awaitable<bool> ws_close(tcp::socket& s) {
  auto tok = asio::as_tuple(asio::use_awaitable);
  static const auto frame = close_frame_1000();
  auto [wec, wn] = co_await asio::async_write(s, asio::buffer(frame), tok);
  if (wec) co_return false;
  frame_reader rd;
  bool got_close = false;
  std::array<std::uint8_t, 4096> buf{};
  for (;;) {
    auto [ec, n] = co_await s.async_read_some(asio::buffer(buf), tok);
    if (ec) break;
    std::size_t off = 0;
    while (off < n) {
      frame_reader::event ev;
      off += rd.feed(buf.data() + off, n - off, ev);
      if (ev.kind == frame_reader::event::close) got_close = true;
    }
  }
  error_code ignored;
  s.close(ignored);
  co_return got_close;
}

std::string fmt_us(double ns) {
  char b[32];
  std::snprintf(b, sizeof b, "%.1f", ns / 1000.0);
  return b;
}

double percentile(std::vector<std::uint32_t>& v, double q) {
  if (v.empty()) return 0;
  const std::size_t k =
      std::min(v.size() - 1, static_cast<std::size_t>(q * static_cast<double>(v.size())));
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
  return v[k];
}

std::uint32_t to_ns32(clk::duration d) {
  const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(d).count();
  return static_cast<std::uint32_t>(std::clamp<long long>(ns, 0, 0xFFFFFFFFll));
}

// ------------------------------------------------------------------ echo

struct run_window {
  clk::time_point measure_from, measure_to;
};

struct thread_stats {
  std::uint64_t messages = 0, errors = 0, bytes_mismatch = 0;
  std::vector<std::uint32_t> lat_ns;
};

// One measured connection. Phase 2 of the echo mode runs on a plain epoll
// loop rather than Asio's reactor: the load generator must not be the
// bottleneck, and Asio cannot wait for the next message without either a
// speculative recv() that returns EAGAIN (async_read_some) or an epoll_ctl()
// (async_wait), per round trip. Here the descriptor is registered once,
// level-triggered, and a round trip costs one recv() and one send() plus a
// share of one epoll_wait(). The servers are measured through this same loop.
class echo_conn {
 public:
  // `frames` holds `depth` copies of one frame of `frame_size` bytes, so the
  // replies that one read completes are answered with one write.
  echo_conn(int fd, int epfd, const std::vector<std::uint8_t>& frames, std::size_t frame_size,
            std::size_t expect, unsigned depth, const run_window& w, thread_stats& st,
            std::function<void()>& on_done)
      : fd_(fd),
        epfd_(epfd),
        frames_(frames),
        frame_size_(frame_size),
        expect_(expect),
        depth_(depth),
        sent_(depth),
        w_(w),
        st_(st),
        on_done_(on_done),
        rbuf_(std::max<std::size_t>(expect + 64, 16384)) {}
  echo_conn(const echo_conn&) = delete;
  echo_conn& operator=(const echo_conn&) = delete;
  ~echo_conn() { abort(); }

  bool start() {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.ptr = this;
    if (::epoll_ctl(epfd_, EPOLL_CTL_ADD, fd_, &ev) != 0) return fail(), false;
    send_n(depth_);
    return true;
  }

  void abort() {
    if (fd_ >= 0) ::close(fd_);  // also leaves the epoll set
    fd_ = -1;
  }

  void on_event(std::uint32_t events) {
    if (done_) return;
    if (events & EPOLLOUT) on_writable();
    if (!done_ && (events & (EPOLLIN | EPOLLHUP | EPOLLERR))) on_readable();
  }

 private:
  void send_n(unsigned k) {
    const auto now = clk::now();
    for (unsigned i = 0; i < k; ++i) sent_[(head_ + inflight_ + i) % depth_] = now;
    inflight_ += k;
    if (wp_ != nullptr) {
      queued_ += k;
      return;
    }
    write_frame(frames_.data(), frame_size_ * k);
  }

  // Writes in place; only a short write waits for EPOLLOUT.
  void write_frame(const std::uint8_t* p, std::size_t n) {
    while (n > 0) {
      const ssize_t w = ::send(fd_, p, n, MSG_NOSIGNAL);
      if (w < 0) {
        if (errno == EINTR) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) return fail();
        wp_ = p;
        wn_ = n;
        return set_events(EPOLLIN | EPOLLOUT);
      }
      p += w;
      n -= static_cast<std::size_t>(w);
    }
    after_write();
  }

  void on_writable() {
    if (wp_ == nullptr) return;
    const std::uint8_t* p = wp_;
    const std::size_t n = wn_;
    wp_ = nullptr;
    set_events(EPOLLIN);
    write_frame(p, n);
  }

  void set_events(std::uint32_t events) {
    epoll_event ev{};
    ev.events = events;
    ev.data.ptr = this;
    if (::epoll_ctl(epfd_, EPOLL_CTL_MOD, fd_, &ev) != 0) fail();
  }

  void after_write() {
    if (queued_ > 0) {
      const unsigned k = std::min(queued_, depth_);
      queued_ -= k;
      write_frame(frames_.data(), frame_size_ * k);
    } else if (closing_ && !close_sent_) {
      close_sent_ = true;
      static const auto cf = close_frame_1000();
      write_frame(cf.data(), cf.size());
    }
  }

  // One recv() per readiness event; level-triggered epoll reports the rest.
  void on_readable() {
    ssize_t got;
    do {
      got = ::recv(fd_, rbuf_.data(), rbuf_.size(), 0);
    } while (got < 0 && errno == EINTR);
    if (got < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      return fail();
    }
    if (got == 0) {
      // EOF after our close is the clean end of the connection.
      if (closing_) return finish();
      return fail();
    }
    const auto n = static_cast<std::size_t>(got);
    std::size_t off = 0;
    unsigned resend = 0;
    while (off < n) {
      frame_reader::event ev;
      off += reader_.feed(rbuf_.data() + off, n - off, ev);
      if (ev.kind == frame_reader::event::message) {
        resend += on_message(ev.bytes) ? 1 : 0;
      } else if (ev.kind == frame_reader::event::protocol_error) {
        return fail();
      } else if (ev.kind == frame_reader::event::close && !closing_) {
        return fail();  // the server closed on us mid-run
      }
    }
    if (done_) return;
    if (resend > 0) send_n(resend);
  }

  // Accounts for one echoed message; true when another should be sent.
  bool on_message(std::uint64_t bytes) {
    const auto now = clk::now();
    if (bytes != expect_) ++st_.bytes_mismatch;
    if (inflight_ == 0) return false;  // an unsolicited message; nothing to time
    const auto sent = sent_[head_];
    head_ = (head_ + 1) % depth_;
    --inflight_;
    if (now >= w_.measure_from && now < w_.measure_to) {
      ++st_.messages;
      st_.lat_ns.push_back(to_ns32(now - sent));
    }
    if (now < w_.measure_to) return true;
    if (inflight_ == 0 && !closing_) {
      closing_ = true;
      if (wp_ == nullptr) after_write();
    }
    return false;
  }

  void fail() {
    if (done_) return;
    ++st_.errors;
    finish();
  }

  void finish() {
    if (done_) return;
    done_ = true;
    abort();
    on_done_();
  }

  int fd_;
  int epfd_;
  const std::vector<std::uint8_t>& frames_;
  std::size_t frame_size_;
  std::size_t expect_;
  unsigned depth_;
  std::vector<clk::time_point> sent_;
  unsigned head_ = 0, inflight_ = 0, queued_ = 0;
  const std::uint8_t* wp_ = nullptr;  ///< the rest of a short write, waiting for EPOLLOUT
  std::size_t wn_ = 0;
  bool closing_ = false, close_sent_ = false, done_ = false;
  const run_window& w_;
  thread_stats& st_;
  std::function<void()>& on_done_;
  std::vector<std::uint8_t> rbuf_;
  frame_reader reader_;
};

int run_echo(const options& o) {
  const tcp::endpoint ep(asio::ip::make_address(o.host), o.port);
  const std::string req = upgrade_request(o);
  std::vector<std::uint8_t> payload(o.size);
  for (std::size_t i = 0; i < payload.size(); ++i)
    payload[i] = static_cast<std::uint8_t>('a' + i % 26);
  const auto frame = client_frame(o.text ? 0x1 : 0x2, payload, 0x37fa213du);
  std::vector<std::uint8_t> frames;
  frames.reserve(frame.size() * o.depth);
  for (unsigned i = 0; i < o.depth; ++i) frames.insert(frames.end(), frame.begin(), frame.end());

  run_window window;
  std::latch ready(o.threads);
  std::latch go(1);
  std::atomic<std::uint64_t> open_errors{0};
  std::vector<thread_stats> stats(o.threads);
  std::vector<std::thread> threads;

  for (unsigned t = 0; t < o.threads; ++t) {
    const std::size_t mine = o.conns / o.threads + (t < o.conns % o.threads ? 1 : 0);
    threads.emplace_back([&, t, mine] {
      asio::io_context ioc(1);
      std::vector<tcp::socket> socks;
      socks.reserve(mine);
      // Phase 1: connect and upgrade, at most 64 handshakes in flight.
      std::size_t next = 0;
      const std::size_t workers = std::min<std::size_t>(mine, 64);
      for (std::size_t k = 0; k < workers; ++k) {
        asio::co_spawn(
            ioc,
            [&]() -> asio::awaitable<void> {
              while (next < mine) {
                ++next;
                tcp::socket s(ioc);
                std::string extra;
                if (auto ec = co_await ws_open(s, ep, req, extra); ec || !extra.empty()) {
                  ++open_errors;
                  continue;
                }
                socks.push_back(std::move(s));
              }
            },
            asio::detached);
      }
      ioc.run();
      ready.count_down();
      go.wait();
      // Phase 2: the measured echo loop, on epoll (see echo_conn).
      std::size_t open = 0;
      auto& st = stats[t];
      st.lat_ns.reserve(1 << 20);
      std::function<void()> on_done = [&] { --open; };
      const int epfd = ::epoll_create1(EPOLL_CLOEXEC);
      std::vector<std::unique_ptr<echo_conn>> conns;
      for (auto& s : socks) {
        error_code ec;
        s.non_blocking(true, ec);
        const int fd = s.release(ec);
        if (ec || epfd < 0) {
          ++st.errors;
          continue;
        }
        conns.push_back(std::make_unique<echo_conn>(fd, epfd, frames, frame.size(), o.size, o.depth,
                                                    window, st, on_done));
        ++open;
      }
      for (auto& c : conns) c->start();
      // Watchdog: whatever is still open 3 s after the window is cut off.
      const auto dog = window.measure_to + std::chrono::seconds(3);
      std::array<epoll_event, 256> evs;
      while (open > 0 && epfd >= 0) {
        const auto left =
            std::chrono::duration_cast<std::chrono::milliseconds>(dog - clk::now()).count();
        if (left <= 0) break;
        const int n = ::epoll_wait(epfd, evs.data(), static_cast<int>(evs.size()),
                                   static_cast<int>(left) + 1);
        if (n < 0 && errno != EINTR) break;
        for (int i = 0; i < n; ++i)
          static_cast<echo_conn*>(evs[static_cast<std::size_t>(i)].data.ptr)
              ->on_event(evs[static_cast<std::size_t>(i)].events);
      }
      st.errors += open;  // cut off by the watchdog
      conns.clear();
      if (epfd >= 0) ::close(epfd);
    });
  }

  ready.wait();
  const auto t0 = clk::now() + std::chrono::milliseconds(20);
  window.measure_from =
      t0 + std::chrono::duration_cast<clk::duration>(std::chrono::duration<double>(o.warmup));
  window.measure_to = window.measure_from + std::chrono::duration_cast<clk::duration>(
                                                std::chrono::duration<double>(o.seconds));
  go.count_down();
  std::this_thread::sleep_until(window.measure_from);
  const auto a = cpu_sample::take(o.server_pid);
  std::this_thread::sleep_until(window.measure_to);
  const auto b = cpu_sample::take(o.server_pid);
  for (auto& th : threads) th.join();

  thread_stats all;
  for (auto& s : stats) {
    all.messages += s.messages;
    all.errors += s.errors;
    all.bytes_mismatch += s.bytes_mismatch;
    all.lat_ns.insert(all.lat_ns.end(), s.lat_ns.begin(), s.lat_ns.end());
  }
  const double secs =
      std::chrono::duration<double>(window.measure_to - window.measure_from).count();
  const double rate = static_cast<double>(all.messages) / secs;
  const double p50 = percentile(all.lat_ns, 0.50);
  const double p99 = percentile(all.lat_ns, 0.99);
  std::printf(
      "result mode=echo conns=%zu size=%zu depth=%u threads=%u msgs=%llu msgs_per_s=%.0f "
      "mib_per_s=%.1f p50_us=%s p99_us=%s %s open_errors=%llu errors=%llu "
      "size_errors=%llu\n",
      o.conns, o.size, o.depth, o.threads, static_cast<unsigned long long>(all.messages), rate,
      rate * static_cast<double>(o.size) / (1024.0 * 1024.0), fmt_us(p50).c_str(),
      fmt_us(p99).c_str(), cpu_fields(a, b).c_str(),
      static_cast<unsigned long long>(open_errors.load()),
      static_cast<unsigned long long>(all.errors),
      static_cast<unsigned long long>(all.bytes_mismatch));
  return all.messages > 0 && open_errors == 0 && all.errors == 0 ? 0 : 1;
}

// ---------------------------------------------------------------- cycles

// One connect + upgrade + close loop of the cycles mode, on plain epoll like
// the echo loop: a cycle costs socket, setsockopt (TCP_NODELAY), connect, one
// epoll_ctl (edge-triggered, in and out), send (upgrade), recv (101), send
// (close), recv (close frame), recv (EOF), close, and a share of epoll_wait.
// With Asio it also paid an epoll_ctl to wait for the connect, getsockopt,
// ioctl, and a speculative recv() per read. connect() and close() carry the TCP
// handshake and teardown on this side and stay the bulk of the cost.
class cycle_worker {
 public:
  struct shared {
    int epfd;
    sockaddr_in addr;
    std::string_view req;
    clk::time_point from, to;
    std::uint64_t cycles = 0, errors = 0, unclean = 0;
    std::vector<std::uint32_t> close_frame_ns, close_eof_ns, upgrade_ns;
    std::size_t active = 0;
  };

  explicit cycle_worker(shared& sh) : sh_(sh) {}
  cycle_worker(const cycle_worker&) = delete;
  cycle_worker& operator=(const cycle_worker&) = delete;
  ~cycle_worker() { drop(); }

  // Starts the next cycle, or retires the worker once the window is over.
  void next() {
    drop();
    if (clk::now() >= sh_.to) {
      if (!retired_) {
        retired_ = true;
        --sh_.active;
      }
      return;
    }
    st_ = state::connecting;
    head_.clear();
    rd_ = frame_reader{};
    got_close_.reset();
    c0_ = clk::now();
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd_ < 0) return fail();
    const int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (::connect(fd_, reinterpret_cast<const sockaddr*>(&sh_.addr), sizeof sh_.addr) != 0 &&
        errno != EINPROGRESS)
      return fail();
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
    ev.data.ptr = this;
    if (::epoll_ctl(sh_.epfd, EPOLL_CTL_ADD, fd_, &ev) != 0) return fail();
  }

  void on_event(std::uint32_t events) {
    if (fd_ < 0) return;
    if (st_ == state::connecting) {
      if (events & (EPOLLERR | EPOLLHUP)) return fail();
      if (!(events & EPOLLOUT)) return;
      st_ = state::upgrading;
      if (!send_all(sh_.req.data(), sh_.req.size())) return fail();
    }
    if (!(events & (EPOLLIN | EPOLLRDHUP | EPOLLERR | EPOLLHUP))) return;
    // Edge-triggered: read until a short read (or, after a FIN, until EOF).
    std::array<char, 512> buf;
    for (;;) {
      const ssize_t got = ::recv(fd_, buf.data(), buf.size(), 0);
      if (got < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) return;
        return st_ == state::closing ? finish_unclean() : fail();
      }
      if (got == 0) return st_ == state::closing ? on_eof() : fail();
      const auto n = static_cast<std::size_t>(got);
      if (st_ == state::upgrading) {
        head_.append(buf.data(), n);
        const auto end = head_.find("\r\n\r\n");
        if (end != std::string::npos) {
          // Nothing may follow the 101 before our close, and it must accept our key.
          if (end + 4 != head_.size() || head_.rfind("HTTP/1.1 101", 0) != 0 ||
              head_.find(sample_accept) == std::string::npos)
            return fail();
          // The close handshake is timed from just before the close frame is written.
          c1_ = clk::now();
          st_ = state::closing;
          static const auto cf = close_frame_1000();
          if (!send_all(reinterpret_cast<const char*>(cf.data()), cf.size())) return fail();
        } else if (head_.size() > 8192) {
          return fail();
        }
      } else {
        std::size_t off = 0;
        while (off < n) {
          frame_reader::event ev;
          off += rd_.feed(reinterpret_cast<const std::uint8_t*>(buf.data()) + off, n - off, ev);
          if (ev.kind == frame_reader::event::close && !got_close_) got_close_ = clk::now();
        }
      }
      // A short read took all there was, unless the peer's FIN came with it
      // (as closewise sends it): then the EOF is read now, as no edge follows.
      if (n < buf.size() && !(events & (EPOLLRDHUP | EPOLLHUP))) return;
    }
  }

  void abort() { drop(); }

 private:
  enum class state { connecting, upgrading, closing };

  bool send_all(const char* p, std::size_t n) {
    while (n > 0) {
      const ssize_t w = ::send(fd_, p, n, MSG_NOSIGNAL);
      if (w < 0) {
        if (errno == EINTR) continue;
        return false;  // the few bytes sent here always fit an empty socket buffer
      }
      p += w;
      n -= static_cast<std::size_t>(w);
    }
    return true;
  }

  void on_eof() {
    const auto c3 = clk::now();
    if (!got_close_) return finish_unclean();
    if (c3 >= sh_.from && c3 < sh_.to) {
      ++sh_.cycles;
      sh_.upgrade_ns.push_back(to_ns32(c1_ - c0_));
      sh_.close_frame_ns.push_back(to_ns32(*got_close_ - c1_));
      sh_.close_eof_ns.push_back(to_ns32(c3 - c1_));
    }
    next();
  }

  void finish_unclean() {
    ++sh_.unclean;
    next();
  }

  void fail() {
    ++sh_.errors;
    next();
  }

  // A local failure to even start a cycle (no descriptor, say): counted, and
  // this worker stops rather than retrying in a tight loop.
  void give_up() {
    ++sh_.errors;
    drop();
    if (!retired_) {
      retired_ = true;
      --sh_.active;
    }
  }

  void drop() {
    if (fd_ >= 0) ::close(fd_);  // also leaves the epoll set
    fd_ = -1;
  }

  shared& sh_;
  int fd_ = -1;
  state st_ = state::connecting;
  bool retired_ = false;
  std::string head_;
  frame_reader rd_;
  std::optional<clk::time_point> got_close_;
  clk::time_point c0_, c1_;
};

int run_cycles(const options& o) {
  cycle_worker::shared sh;
  const std::string req = upgrade_request(o);
  sh.req = req;
  sh.addr.sin_family = AF_INET;
  sh.addr.sin_port = htons(o.port);
  if (::inet_pton(AF_INET, o.host.c_str(), &sh.addr.sin_addr) != 1)
    usage("--host must be an IPv4 address");
  sh.epfd = ::epoll_create1(EPOLL_CLOEXEC);
  if (sh.epfd < 0) return 1;
  const auto t0 = clk::now();
  sh.from = t0 + std::chrono::duration_cast<clk::duration>(std::chrono::duration<double>(o.warmup));
  sh.to =
      sh.from + std::chrono::duration_cast<clk::duration>(std::chrono::duration<double>(o.seconds));
  std::vector<std::unique_ptr<cycle_worker>> workers;
  for (std::size_t w = 0; w < o.conns; ++w) workers.push_back(std::make_unique<cycle_worker>(sh));
  sh.active = workers.size();
  cpu_sample a, b;
  std::thread sampler([&] {
    std::this_thread::sleep_until(sh.from);
    a = cpu_sample::take(o.server_pid);
    std::this_thread::sleep_until(sh.to);
    b = cpu_sample::take(o.server_pid);
  });
  for (auto& w : workers) w->next();
  // Watchdog: whatever is still open 3 s after the window is cut off.
  const auto dog = sh.to + std::chrono::seconds(3);
  std::array<epoll_event, 256> evs;
  while (sh.active > 0) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(dog - clk::now()).count();
    if (left <= 0) {
      sh.errors += sh.active;
      break;
    }
    // Wake at least every 50 ms, so a worker that is between cycles when the window ends retires.
    const int n = ::epoll_wait(sh.epfd, evs.data(), static_cast<int>(evs.size()),
                               static_cast<int>(std::min<long long>(left, 50)));
    if (n < 0 && errno != EINTR) break;
    for (int i = 0; i < n; ++i)
      static_cast<cycle_worker*>(evs[static_cast<std::size_t>(i)].data.ptr)
          ->on_event(evs[static_cast<std::size_t>(i)].events);
  }
  workers.clear();
  ::close(sh.epfd);
  sampler.join();
  const double secs = std::chrono::duration<double>(sh.to - sh.from).count();
  std::printf(
      "result mode=cycles conns=%zu cycles=%llu cycles_per_s=%.0f upgrade_p50_us=%s "
      "close_frame_p50_us=%s "
      "close_p50_us=%s close_p99_us=%s %s errors=%llu unclean=%llu\n",
      o.conns, static_cast<unsigned long long>(sh.cycles), static_cast<double>(sh.cycles) / secs,
      fmt_us(percentile(sh.upgrade_ns, 0.5)).c_str(),
      fmt_us(percentile(sh.close_frame_ns, 0.5)).c_str(),
      fmt_us(percentile(sh.close_eof_ns, 0.5)).c_str(),
      fmt_us(percentile(sh.close_eof_ns, 0.99)).c_str(), cpu_fields(a, b).c_str(),
      static_cast<unsigned long long>(sh.errors), static_cast<unsigned long long>(sh.unclean));
  return sh.cycles > 0 && sh.errors == 0 && sh.unclean == 0 ? 0 : 1;
}

// ------------------------------------------------------------------ idle

int run_idle(const options& o) {
  asio::io_context ioc(1);
  const tcp::endpoint ep(asio::ip::make_address(o.host), o.port);
  const std::string req = upgrade_request(o);
  std::uint64_t errors = 0;

  // One short echo first, so one-time start-up allocations of the server are
  // in the baseline, not spread over the idle connections.
  asio::co_spawn(
      ioc,
      [&]() -> asio::awaitable<void> {
        auto tok = asio::as_tuple(asio::use_awaitable);
        tcp::socket s(ioc);
        std::string extra;
        if (auto ec = co_await ws_open(s, ep, req, extra); ec) {
          ++errors;
          co_return;
        }
        const auto f = client_frame(0x2, std::vector<std::uint8_t>(32, 'x'), 0x01020304u);
        co_await asio::async_write(s, asio::buffer(f), tok);
        std::array<std::uint8_t, 256> buf{};
        frame_reader rd;
        for (bool got = false; !got;) {
          auto [ec, n] = co_await s.async_read_some(asio::buffer(buf), tok);
          if (ec) {
            ++errors;
            co_return;
          }
          std::size_t off = 0;
          while (off < n) {
            frame_reader::event ev;
            off += rd.feed(buf.data() + off, n - off, ev);
            got = got || ev.kind == frame_reader::event::message;
          }
        }
        if (!co_await ws_close(s)) ++errors;
      },
      asio::detached);
  ioc.run();
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const long rss0 = proc_rss_kib(o.server_pid);

  std::vector<std::unique_ptr<tcp::socket>> socks;
  socks.reserve(o.conns);
  const auto deadline = clk::now() + std::chrono::seconds(60);
  std::size_t next = 0;
  ioc.restart();
  for (std::size_t k = 0; k < std::min<std::size_t>(o.conns, 128); ++k) {
    asio::co_spawn(
        ioc,
        [&]() -> asio::awaitable<void> {
          while (next < o.conns && clk::now() < deadline) {
            ++next;
            auto s = std::make_unique<tcp::socket>(ioc);
            std::string extra;
            if (auto ec = co_await ws_open(*s, ep, req, extra); ec) {
              ++errors;
              continue;
            }
            socks.push_back(std::move(s));
          }
        },
        asio::detached);
  }
  const auto t_open0 = clk::now();
  ioc.run();
  const double open_secs = std::chrono::duration<double>(clk::now() - t_open0).count();
  std::this_thread::sleep_for(std::chrono::duration<double>(o.settle));
  const long rss1 = proc_rss_kib(o.server_pid);
  std::printf("ready conns=%zu\n", socks.size());
  std::fflush(stdout);
  if (o.hold > 0) std::this_thread::sleep_for(std::chrono::duration<double>(o.hold));

  // Close them all politely, 128 at a time, bounded by a watchdog.
  std::uint64_t unclean = 0;
  std::size_t idx = 0;
  std::size_t closers = std::min<std::size_t>(socks.size(), 128);
  ioc.restart();
  asio::steady_timer dog(ioc, std::chrono::seconds(30));
  for (std::size_t k = 0; k < closers; ++k) {
    asio::co_spawn(
        ioc,
        [&]() -> asio::awaitable<void> {
          while (idx < socks.size()) {
            auto& s = *socks[idx++];
            if (!co_await ws_close(s)) ++unclean;
          }
          if (--closers == 0) dog.cancel();
        },
        asio::detached);
  }
  dog.async_wait([&](error_code ec) {
    if (ec) return;
    for (auto& s : socks) {
      error_code ignored;
      s->close(ignored);
    }
  });
  if (closers == 0) dog.cancel();
  ioc.run();

  const double per_conn =
      (rss0 >= 0 && rss1 >= 0 && !socks.empty())
          ? static_cast<double>(rss1 - rss0) * 1024.0 / static_cast<double>(socks.size())
          : -1;
  std::printf(
      "result mode=idle conns=%zu opened=%zu open_s=%.2f rss_before_kib=%ld rss_after_kib=%ld "
      "bytes_per_conn=%.0f errors=%llu unclean_close=%llu\n",
      o.conns, socks.size(), open_secs, rss0, rss1, per_conn,
      static_cast<unsigned long long>(errors), static_cast<unsigned long long>(unclean));
  return errors == 0 && socks.size() == o.conns ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  const options o = parse(argc, argv);
  g_server_core = o.server_core;
  g_client_core = o.client_core;
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  if (o.mode == "echo") return run_echo(o);
  if (o.mode == "cycles") return run_cycles(o);
  return run_idle(o);
}
