#include "net/fault_relay.hpp"

#include <linux/sockios.h>
#include <netinet/tcp.h>
#include <sys/ioctl.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <deque>
#include <future>
#include <list>
#include <optional>
#include <random>
#include <thread>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>

namespace closewise::net::test {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using steady = std::chrono::steady_clock;
using std::chrono::milliseconds;

namespace {

/// A direction stops reading once this much is waiting to be written.
constexpr std::size_t max_held = std::size_t{1} << 20;
/// How long a reset waits for the receiver to acknowledge the bytes before it.
constexpr milliseconds ack_wait_limit{2000};

std::size_t index(direction d) { return static_cast<std::size_t>(d); }

/// Bytes the kernel has not yet had acknowledged by the peer (SIOCOUTQ).
int unacknowledged(tcp::socket& s) {
  int n = 0;
  if (::ioctl(s.native_handle(), SIOCOUTQ, &n) != 0) return 0;
  return n;
}

/// Closes a socket with RST instead of FIN (SO_LINGER with a zero timeout).
void reset_socket(tcp::socket& s) {
  boost::system::error_code ignored;
  if (!s.is_open()) return;
  s.set_option(asio::socket_base::linger(true, 0), ignored);
  s.close(ignored);
}

}  // namespace

namespace detail {

/// Relay-wide settings that new connections start with.
struct relay_settings {
  std::array<direction_faults, 2> faults{};
  std::array<bool, 2> stalled{false, false};
};

class link;

class fault_relay_impl : public std::enable_shared_from_this<fault_relay_impl> {
 public:
  fault_relay_impl(const std::string& host, std::uint16_t port)
      : target_(asio::ip::make_address(host), port),
        acceptor_(ioc_),
        heal_timer_(ioc_),
        work_(asio::make_work_guard(ioc_)) {
    const tcp::endpoint local(asio::ip::address_v4::loopback(), 0);
    acceptor_.open(local.protocol());
    acceptor_.bind(local);
    acceptor_.listen();
    port_ = acceptor_.local_endpoint().port();
  }

  void start() {
    accept();
    thread_ = std::thread([self = shared_from_this()] { self->ioc_.run(); });
  }

  void stop();

  /// Runs `f` on the relay's thread and waits for it: a change is in force
  /// on every connection when the call returns.
  template <class F>
  void run_sync(F f) {
    std::promise<void> done;
    auto fut = done.get_future();
    asio::post(ioc_, [&] {
      f();
      done.set_value();
    });
    fut.wait();
  }

  void accept();

  void set_faults(direction d, direction_faults f);
  void set_stalled(direction d, bool on);
  void blackhole(milliseconds length);
  void reset_after(direction d, std::size_t bytes);
  void heal();

  std::mt19937_64& rng() { return rng_; }
  const relay_settings& settings() const { return settings_; }
  void forget(link* l) {
    links_.remove_if([l](const std::shared_ptr<link>& x) { return x.get() == l; });
  }
  void count_reset() { resets_.fetch_add(1); }
  void count_forwarded(direction d, std::size_t n) {
    forwarded_[index(d)].fetch_add(n);
    sends_[index(d)].fetch_add(1);
  }

  asio::io_context ioc_;
  std::uint16_t port_ = 0;
  std::atomic<std::size_t> accepted_{0};
  std::atomic<std::size_t> resets_{0};
  std::array<std::atomic<std::uint64_t>, 2> forwarded_{};
  std::array<std::atomic<std::uint64_t>, 2> sends_{};

 private:
  tcp::endpoint target_;
  tcp::acceptor acceptor_;
  asio::steady_timer heal_timer_;
  asio::executor_work_guard<asio::io_context::executor_type> work_;
  std::thread thread_;
  relay_settings settings_;
  /// A reset armed while no connection was live waits for the next one.
  std::optional<std::pair<direction, std::size_t>> pending_reset_;
  std::list<std::shared_ptr<link>> links_;
  std::mt19937_64 rng_{20260};
};

/// One relayed connection: two sockets and a pipe each way.
class link : public std::enable_shared_from_this<link> {
 public:
  link(fault_relay_impl& relay, tcp::socket client)
      : relay_(relay),
        client_(std::move(client)),
        server_(relay.ioc_),
        pipes_{pipe(direction::upstream, relay.ioc_), pipe(direction::downstream, relay.ioc_)} {}

  void start(const tcp::endpoint& target) {
    server_.async_connect(target, [self = shared_from_this()](const boost::system::error_code& ec) {
      if (ec) {
        self->tear_down(true);
        return;
      }
      self->connected_ = true;
      boost::system::error_code ignored;
      self->client_.set_option(tcp::no_delay(true), ignored);
      self->server_.set_option(tcp::no_delay(true), ignored);
      self->kick(direction::upstream);
      self->kick(direction::downstream);
    });
  }

  /// Arms a reset `bytes` after what `d` has read so far. Counted from what
  /// was read, not written: a write may be complete on the wire before its
  /// handler ran, so the written count can lag what the receiver already has.
  void arm_reset(direction d, std::size_t bytes) {
    pipe& p = pipes_[index(d)];
    p.reset_at = p.taken + bytes;
    kick(d);
  }

  void kick(direction d) {
    if (!connected_ || dead_) return;
    read_more(pipes_[index(d)]);
    write_more(pipes_[index(d)]);
  }

  /// Closes both sockets: with RST when `reset`, else with FIN.
  void tear_down(bool reset) {
    if (dead_) return;
    dead_ = true;
    for (auto& p : pipes_) p.timer.cancel();
    if (reset) {
      reset_socket(client_);
      reset_socket(server_);
    } else {
      boost::system::error_code ignored;
      client_.close(ignored);
      server_.close(ignored);
    }
    relay_.forget(this);
  }

 private:
  struct chunk {
    steady::time_point due;
    std::string bytes;  ///< empty: the sender's FIN, passed on in order
    std::size_t off = 0;
  };
  struct pipe {
    pipe(direction d, asio::io_context& ioc) : dir(d), timer(ioc) {}
    direction dir;
    asio::steady_timer timer;
    std::deque<chunk> held;
    std::size_t held_bytes = 0;
    steady::time_point last_due{};
    std::uint64_t taken = 0;    ///< bytes read from the sender
    std::uint64_t written = 0;  ///< bytes written to the receiver
    std::optional<std::uint64_t> reset_at;
    bool waiting_read = false;
    bool writing = false;  ///< a write or a due-time wait is in flight
    bool eof = false;
  };

  tcp::socket& from(const pipe& p) { return p.dir == direction::upstream ? client_ : server_; }
  tcp::socket& to(const pipe& p) { return p.dir == direction::upstream ? server_ : client_; }
  bool stalled(const pipe& p) const { return relay_.settings().stalled[index(p.dir)]; }

  void read_more(pipe& p) {
    if (dead_ || p.waiting_read || p.eof || stalled(p) || p.held_bytes >= max_held) return;
    p.waiting_read = true;
    // Wait for readiness, then read without blocking: a stalled direction then
    // takes nothing at all from the sender, not even one buffer.
    from(p).async_wait(tcp::socket::wait_read,
                       [self = shared_from_this(), &p](const boost::system::error_code& ec) {
                         p.waiting_read = false;
                         if (self->dead_) return;
                         if (ec) {
                           self->tear_down(true);
                           return;
                         }
                         self->on_readable(p);
                       });
  }

  void on_readable(pipe& p) {
    if (stalled(p)) return;  // resume() kicks it again
    std::array<char, 65536> buf;
    boost::system::error_code ec;
    from(p).non_blocking(true, ec);
    const std::size_t n = from(p).read_some(asio::buffer(buf), ec);
    if (ec == asio::error::would_block || ec == asio::error::try_again) {
      read_more(p);
      return;
    }
    if (ec == asio::error::eof) {
      p.eof = true;
      hold(p, {});
      return;
    }
    if (ec) {
      // The sender reset (or the socket failed): a path passes that on.
      tear_down(true);
      return;
    }
    hold(p, std::string(buf.data(), n));
    read_more(p);
  }

  void hold(pipe& p, std::string bytes) {
    const direction_faults& f = relay_.settings().faults[index(p.dir)];
    auto due = steady::now() + f.latency;
    if (f.jitter.count() > 0) {
      std::uniform_int_distribution<long long> u(0, f.jitter.count() - 1);
      due += milliseconds(u(relay_.rng()));
    }
    due = std::max(due, p.last_due);  // never ahead of the bytes read before
    p.last_due = due;
    p.held_bytes += bytes.size();
    p.taken += bytes.size();
    p.held.push_back(chunk{due, std::move(bytes)});
    write_more(p);
  }

  void write_more(pipe& p) {
    if (dead_ || p.writing || stalled(p) || p.held.empty()) return;
    chunk& c = p.held.front();
    const auto now = steady::now();
    if (c.due > now) {
      p.writing = true;
      p.timer.expires_at(c.due);
      p.timer.async_wait([self = shared_from_this(), &p](const boost::system::error_code& ec) {
        p.writing = false;
        if (!ec) self->write_more(p);
      });
      return;
    }
    if (p.reset_at && p.written >= *p.reset_at) {
      // The next byte (or the FIN) would go past the offset: reset instead.
      reset_when_acknowledged(p, now + ack_wait_limit);
      return;
    }
    if (c.bytes.empty()) {  // the sender's FIN
      p.held.pop_front();
      boost::system::error_code ignored;
      to(p).shutdown(tcp::socket::shutdown_send, ignored);
      if (pipes_[0].eof && pipes_[1].eof && pipes_[0].held.empty() && pipes_[1].held.empty())
        tear_down(false);
      return;
    }
    std::size_t n = c.bytes.size() - c.off;
    const direction_faults& f = relay_.settings().faults[index(p.dir)];
    if (f.segment > 0) n = std::min(n, f.segment);
    if (p.reset_at) n = std::min<std::uint64_t>(n, *p.reset_at - p.written);
    p.writing = true;
    asio::async_write(
        to(p), asio::buffer(c.bytes.data() + c.off, n),
        [self = shared_from_this(), &p](const boost::system::error_code& ec, std::size_t done) {
          p.writing = false;
          if (self->dead_) return;
          if (ec) {
            self->tear_down(true);
            return;
          }
          self->wrote(p, done);
        });
  }

  void wrote(pipe& p, std::size_t n) {
    chunk& c = p.held.front();
    c.off += n;
    p.written += n;
    p.held_bytes -= n;
    relay_.count_forwarded(p.dir, n);
    if (c.off == c.bytes.size()) p.held.pop_front();
    read_more(p);  // room again
    write_more(p);
  }

  /// The bytes before the reset must reach the receiver: the RST would
  /// otherwise discard what is still in the relay's send buffer.
  void reset_when_acknowledged(pipe& p, steady::time_point limit) {
    if (unacknowledged(to(p)) == 0 || steady::now() >= limit) {
      relay_.count_reset();
      tear_down(true);
      return;
    }
    p.writing = true;
    p.timer.expires_after(milliseconds(1));
    p.timer.async_wait([self = shared_from_this(), &p, limit](const boost::system::error_code& ec) {
      p.writing = false;
      if (!ec && !self->dead_) self->reset_when_acknowledged(p, limit);
    });
  }

  fault_relay_impl& relay_;
  tcp::socket client_;
  tcp::socket server_;
  std::array<pipe, 2> pipes_;
  bool connected_ = false;
  bool dead_ = false;
};

void fault_relay_impl::accept() {
  acceptor_.async_accept(
      [self = shared_from_this()](const boost::system::error_code& ec, tcp::socket s) {
        if (ec) return;  // the acceptor closed
        self->accepted_.fetch_add(1);
        auto l = std::make_shared<link>(*self, std::move(s));
        self->links_.push_back(l);
        if (self->pending_reset_) {
          l->arm_reset(self->pending_reset_->first, self->pending_reset_->second);
          self->pending_reset_.reset();
        }
        l->start(self->target_);
        self->accept();
      });
}

void fault_relay_impl::stop() {
  run_sync([this] {
    boost::system::error_code ignored;
    acceptor_.close(ignored);
    heal_timer_.cancel();
    auto all = links_;
    for (auto& l : all) l->tear_down(false);
  });
  work_.reset();
  ioc_.stop();
  if (thread_.joinable()) thread_.join();
  // Handlers still queued hold this impl (shared_from_this): run them now,
  // each sees its operation aborted, so the cycle through ioc_ is broken.
  ioc_.restart();
  ioc_.poll();
}

void fault_relay_impl::set_faults(direction d, direction_faults f) {
  run_sync([&] { settings_.faults[index(d)] = f; });
}

void fault_relay_impl::set_stalled(direction d, bool on) {
  run_sync([&] {
    settings_.stalled[index(d)] = on;
    if (!on) {
      auto all = links_;
      for (auto& l : all) l->kick(d);
    }
  });
}

void fault_relay_impl::blackhole(milliseconds length) {
  set_stalled(direction::upstream, true);
  set_stalled(direction::downstream, true);
  run_sync([&] {
    heal_timer_.expires_after(length);
    heal_timer_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
      if (ec) return;
      for (auto d : {direction::upstream, direction::downstream}) {
        self->settings_.stalled[index(d)] = false;
        auto all = self->links_;
        for (auto& l : all) l->kick(d);
      }
    });
  });
}

void fault_relay_impl::heal() {
  run_sync([this] { heal_timer_.cancel(); });
  set_stalled(direction::upstream, false);
  set_stalled(direction::downstream, false);
}

void fault_relay_impl::reset_after(direction d, std::size_t bytes) {
  run_sync([&] {
    if (links_.empty()) {
      pending_reset_ = std::make_pair(d, bytes);
      return;
    }
    auto all = links_;
    for (auto& l : all) l->arm_reset(d, bytes);
  });
}

}  // namespace detail

// ------------------------------------------------------------- fault_relay --

fault_relay::fault_relay(const std::string& target_host, std::uint16_t target_port)
    : impl_(std::make_shared<detail::fault_relay_impl>(target_host, target_port)) {
  impl_->start();
}

fault_relay::~fault_relay() { impl_->stop(); }

std::uint16_t fault_relay::port() const noexcept { return impl_->port_; }

std::string fault_relay::url(const std::string& target) const {
  return "ws://127.0.0.1:" + std::to_string(port()) + target;
}

void fault_relay::set_faults(direction d, direction_faults f) { impl_->set_faults(d, f); }
void fault_relay::stall(direction d) { impl_->set_stalled(d, true); }
void fault_relay::resume(direction d) { impl_->set_stalled(d, false); }
void fault_relay::blackhole(milliseconds length) { impl_->blackhole(length); }
void fault_relay::heal() { impl_->heal(); }
void fault_relay::reset_after(direction d, std::size_t bytes) { impl_->reset_after(d, bytes); }
std::size_t fault_relay::accepted() const noexcept { return impl_->accepted_.load(); }
std::size_t fault_relay::resets() const noexcept { return impl_->resets_.load(); }
std::uint64_t fault_relay::sends(direction d) const noexcept {
  return impl_->sends_[index(d)].load();
}
std::uint64_t fault_relay::forwarded(direction d) const noexcept {
  return impl_->forwarded_[index(d)].load();
}

}  // namespace closewise::net::test
