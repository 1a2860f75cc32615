// Test support: two network namespaces joined by a veth pair, made and removed
// by the test itself, for faults the kernel can make here: a partition (a link
// set down: packets vanish, no RST) and a bandwidth limit (tbf). netem is not
// available in this kernel; delay, loss and reordering come from fault_relay.
//
// Traffic never leaves the two namespaces: side a is 198.18.0.1, side b is
// 198.18.0.2 (RFC 2544's benchmarking range), on a /30 that exists nowhere else.
// Threads enter a namespace with setns(2); sockets keep the namespace of the
// thread that created them, so a server listening from side b and a client
// connecting from side a talk only through the veth pair.
#pragma once

#include <cstddef>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

namespace closewise::net::test {

/// Two namespaces and a veth pair between them; everything is deleted by the
/// destructor, also when an assertion ended the test early.
class netns_pair {
 public:
  enum class side { a, b };

  /// Creates both namespaces (names made unique by the pid and a counter),
  /// the veth pair, the addresses, and brings every link up. Check ok().
  /// Namespaces left behind by an earlier test process that died are removed first.
  netns_pair();
  ~netns_pair();
  netns_pair(const netns_pair&) = delete;
  netns_pair& operator=(const netns_pair&) = delete;

  /// Whether everything was created; error() says what failed, in one line.
  bool ok() const noexcept { return error_.empty(); }
  const std::string& error() const noexcept { return error_; }

  const std::string& name(side s) const { return names_[index(s)]; }
  /// The veth address of a side: "198.18.0.1" (a) or "198.18.0.2" (b).
  std::string address(side s) const { return s == side::a ? "198.18.0.1" : "198.18.0.2"; }
  /// An open descriptor of the namespace, for setns(2).
  int fd(side s) const noexcept { return fds_[index(s)]; }

  /// `ip link set DEV down` on one side: a partition. Packets to and from
  /// that side vanish; neither peer gets a FIN or a RST.
  bool link_down(side s);
  bool link_up(side s);
  /// A token bucket on the side's egress: `rate` like "256kbit", a burst in
  /// bytes and the most a packet may wait in the queue.
  bool limit_rate(side s, const std::string& rate, std::size_t burst_bytes,
                  const std::string& latency = "200ms");

 private:
  static std::size_t index(side s) { return s == side::a ? 0 : 1; }
  bool run(const std::string& cmd);

  std::string names_[2];
  int fds_[2] = {-1, -1};
  std::string error_;
};

/// While it lives, the calling thread is in another network namespace.
class netns_scope {
 public:
  explicit netns_scope(int ns_fd);
  ~netns_scope();
  netns_scope(const netns_scope&) = delete;
  netns_scope& operator=(const netns_scope&) = delete;
  bool ok() const noexcept { return ok_; }

 private:
  int home_ = -1;
  bool ok_ = false;
};

/// Like io_thread, with every thread inside a namespace: sockets the code
/// under test opens from its handlers live there.
class netns_io_thread {
 public:
  netns_io_thread(int ns_fd, int n = 1);
  ~netns_io_thread();
  netns_io_thread(const netns_io_thread&) = delete;
  netns_io_thread& operator=(const netns_io_thread&) = delete;
  boost::asio::io_context ioc;
  /// Whether every thread entered the namespace and runs `ioc` (a thread that
  /// could not enter runs nothing, so no socket is ever opened outside it).
  bool ok() const noexcept { return ok_; }

  /// Runs `f` on a thread inside the namespace and waits for it (listen,
  /// connect: whatever may open a socket on the calling thread). If the
  /// thread cannot enter, `f` does not run.
  template <class F>
  void run_inside(F&& f) {
    std::thread t([&] {
      netns_scope in(ns_fd_);
      if (in.ok()) f();  // never outside: 198.18.0.0/15 must not leave the pair
    });
    t.join();
  }

 private:
  int ns_fd_;
  bool ok_ = true;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
  std::vector<std::thread> threads_;
};

/// Whether this process may make namespaces; empty when it may, else why not.
std::string netns_unavailable_reason();

}  // namespace closewise::net::test
