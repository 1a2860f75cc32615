// The driver's read path: a 64-byte read kept pending in the connection, the
// rest read at once through a per-thread buffer (design-notes, "Reads").
#include "driver.hpp"

#include <boost/asio/bind_allocator.hpp>

#include "transport_error.hpp"

namespace closewise::net::detail {
namespace {

bool would_block(const boost::system::error_code& ec) noexcept {
  return ec == asio::error::would_block || ec == asio::error::try_again;
}

}  // namespace

char* thread_buffer() {
  thread_local std::unique_ptr<char[]> buf(new char[thread_buffer_size]);
  return buf.get();
}

bool driver::reading_paused() const noexcept {
  // A pause holds back the peer's data while the connection is open; once a
  // close frame went either way, reading goes on, so the close handshake
  // finishes within close_timeout (docs: client::pause_reading).
  return paused_.load(std::memory_order_relaxed) && lc_.state() == transport_state::open && conn_ &&
         conn_->get_state() == proto::state::open;
}

bool driver::want_read() const noexcept {
  if (!lc_.reads() || !sock_.is_open()) return false;
  if (lc_.state() != transport_state::open) return true;
  // Backpressure: while the peer does not take our output, do not read more
  // (auto-pongs and echoes would otherwise grow the queue without bound).
  return pending_output() <= lc_.limits().max_buffered && !reading_paused();
}

void driver::start_read() {
  if (reading_ || !want_read()) return;
  if (held_ != 0) {
    release_held();  // bytes read before a pause go first
    if (reading_ || !want_read()) return;
  }
  reading_ = true;
  if (tls_) {
    start_tls_read();
  } else {
    start_plain_read();
  }
}

void driver::start_plain_read() {
  // A read, not a readiness wait: Asio's reactor re-arms the descriptor
  // (epoll_ctl) for every wait. A read costs at most one speculative recv()
  // (EAGAIN in Boost 1.81) and then completes from the next epoll event.
  on_ex([this](auto h) { sock_.async_read_some(asio::buffer(rbuf_), std::move(h)); },
        asio::bind_allocator(exact_allocator<void>{},
                             [self = self()](const boost::system::error_code& ec, std::size_t n) {
                               scope s(*self);
                               self->reading_ = false;
                               // Defer only when another connection read last on this
                               // thread: then a batch of connections is being served.
                               // One busy connection alone gains nothing from waiting.
                               thread_local const driver* last_reader = nullptr;
                               self->read_again_later_ = !ec && last_reader != self.get();
                               last_reader = self.get();
                               self->on_read(ec, n);
                             }));
}

void driver::start_read_later() {
  if (reading_ || !want_read()) return;
  reading_ = true;  // no other read may start meanwhile
  post_to_ex([self = self()] {
    self->reading_ = false;
    self->start_read();
  });
}

void driver::on_read(const boost::system::error_code& ec, std::size_t n) {
  if (ec) {
    transport_failed(ec);
    return;
  }
  if (reading_paused()) {
    held_ = static_cast<std::uint16_t>(n);  // handed over on resume_reading()
    return;
  }
  on_bytes(rbuf_.data(), n);
  // A short read drained the socket; a full one leaves more, read now.
  if (n == rbuf_.size()) read_rest_now(n);
  // The next read starts when the scope ends (after_io), after our output left.
}

void driver::read_rest_now(std::size_t first) {
  // The rest of a large payload straight into its message, anything else
  // through the thread buffer, until the socket is empty.
  char* const buf = thread_buffer();
  std::size_t total = first;
  // After a window into a frame too large for the thread buffer, the next
  // frame is likely as large. A full read at its boundary would bring its
  // header and nearly all of its payload into the thread buffer, to be copied
  // into the message (every byte of a stream of 64 KiB frames, once the socket
  // holds a backlog). A header's worth instead (rbuf_'s 64 bytes, as the
  // pending read takes) leaves the payload for a window: one more recv() per
  // frame, against a copy of the frame. It is decided by the frame's size, so
  // a wake that starts mid-frame decides it too.
  bool large = false;
  while (want_read()) {
    char* dst = buf;
    std::size_t room = thread_buffer_size;
    if (lc_.state() == transport_state::open && conn_) {
      if (auto [w, wn] = conn_->receive_window(direct_read_min); wn != 0) {
        dst = w;
        room = wn;
      } else if (large) {
        room = rbuf_.size();
      }
    }
    large = dst != buf && conn_->frame_payload_size() >= large_frame_min;
    boost::system::error_code rec;
    const std::size_t got = sock_.read_some(asio::buffer(dst, room), rec);
    if (would_block(rec)) break;
    if (rec) {
      transport_failed(rec);
      return;
    }
    if (dst != buf) {
      if (auto* hb = beat()) hb->on_inbound(heartbeat::clock::now());
      conn_->commit_window(got);
    } else {
      on_bytes(buf, got);
    }
    total += got;
    if (got < room || total >= max_read_per_wake) break;
  }
}

bool driver::take_delivered(std::string_view payload, std::string& buf) noexcept {
  return on_executor() && conn_ && conn_->take_delivered(payload, buf);
}

void driver::release_held() {
  // Only plain reads hold bytes: a TLS read leaves them in the socket or in OpenSSL.
  on_read({}, std::exchange(held_, 0));
}

void driver::read_arrived() {
  if (tls_ || !want_read()) return;
  boost::system::error_code ec;
  const std::size_t got = sock_.read_some(asio::buffer(thread_buffer(), thread_buffer_size), ec);
  if (would_block(ec)) return;
  if (ec) {
    transport_failed(ec);
    return;
  }
  on_bytes(thread_buffer(), got);
}

void driver::on_bytes(char* data, std::size_t size) {
  switch (lc_.state()) {
    case transport_state::upgrading:
      owner_->upgrade_bytes(data, size);
      break;
    case transport_state::open:
      // Any inbound byte is a sign of life (ARCHITECTURE §4: idle means no inbound traffic).
      if (auto* hb = beat()) hb->on_inbound(heartbeat::clock::now());
      receive_frames(data, size);
      break;
    // A refusal was sent, or RFC 6455 §5.5.1: nothing may follow a close
    // frame. Whatever arrives is read and dropped.
    default:
      break;
  }
}

void driver::transport_failed(const boost::system::error_code& ec) {
  // Our own cancel (the TLS shutdown takes over the reading) or a closed socket.
  if (ec == asio::error::operation_aborted) return;
  run(is_eof(ec) ? lc_.eof() : lc_.transport_error(map_transport_error(ec)));
}

void driver::await_fin() {
  // After our close_notify answer nothing more is read through TLS; the
  // server's FIN shows as the raw socket turning readable.
  on_ex([this](auto h) { sock_.async_wait(tcp::socket::wait_read, std::move(h)); },
        [self = self()](const boost::system::error_code& ec) {
          if (ec == asio::error::operation_aborted) return;
          scope s(*self);
          self->run(self->lc_.fin_arrived());
        });
}

}  // namespace closewise::net::detail
