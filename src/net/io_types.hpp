// closewise::net (private): the Asio types a connection's I/O objects use.
#pragma once

#include <chrono>
#include <cstddef>
#include <new>

#include <boost/asio/basic_stream_socket.hpp>
#include <boost/asio/basic_waitable_timer.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/strand.hpp>

namespace closewise::net::detail {

namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;
using tcp = asio::ip::tcp;

/// I/O objects run on the io_context's own executor type rather than
/// any_io_executor: each then stores 8 bytes instead of 56, and a pending
/// operation carries no type-erased executor (an idle connection's only
/// pending operation is its read; ARCHITECTURE §6 gives it <= 1 KiB in all).
/// A connection that needs a strand binds its handlers to one.
using io_executor = asio::io_context::executor_type;
using socket_type = asio::basic_stream_socket<tcp, io_executor>;
using timer_type =
    asio::basic_waitable_timer<std::chrono::steady_clock,
                               asio::wait_traits<std::chrono::steady_clock>, io_executor>;
using strand_type = asio::strand<io_executor>;

/// Operator new and delete, as a distinct allocator type. Bound to a handler,
/// it keeps Asio from placing the operation in a recycled block of whatever
/// size came before: the read an idle connection keeps pending is sized
/// exactly instead of inheriting the accept operation's larger block.
template <class T>
struct exact_allocator {
  using value_type = T;
  exact_allocator() noexcept = default;
  template <class U>
  exact_allocator(const exact_allocator<U>&) noexcept {}  // NOLINT: rebinding is implicit
  T* allocate(std::size_t n) { return static_cast<T*>(::operator new(n * sizeof(T))); }
  void deallocate(T* p, std::size_t) noexcept { ::operator delete(p); }
  friend bool operator==(exact_allocator, exact_allocator) noexcept { return true; }
};

}  // namespace closewise::net::detail
