// The driver's TLS path over tls_stream: the handshake, reads, writes and the
// close_notify exchange, each a non-blocking call of OpenSSL and, when it
// cannot go on, one readiness wait on the socket (design-notes, "wss at scale").
#include "driver.hpp"

#include <boost/asio/bind_allocator.hpp>

namespace closewise::net::detail {

template <class F>
void driver::tls_wait(tls_status st, F&& then) {
  const auto w = st == tls_status::want_write ? tcp::socket::wait_write : tcp::socket::wait_read;
  // Sized exactly (exact_allocator): an idle connection's one pending
  // operation is this wait, so it should not inherit a recycled larger block.
  on_ex([&](auto h) { sock_.async_wait(w, std::move(h)); },
        asio::bind_allocator(exact_allocator<void>{},
                             [self = self(), then = std::forward<F>(then)](
                                 const boost::system::error_code& ec) mutable {
                               scope s(*self);
                               // A readiness already queued when the socket closed must not
                               // reach OpenSSL: its descriptor number may belong to another
                               // socket by now.
                               if (!ec && !self->sock_.is_open()) {
                                 then(*self, asio::error::operation_aborted);
                                 return;
                               }
                               then(*self, ec);
                             }));
}

tls_stream& driver::start_tls(ssl::context& ctx) {
  tls_ = std::make_unique<tls_stream>(sock_, ctx, lc_.role() == proto::role::client);
  return *tls_;
}

void driver::start_tls_handshake() {
  boost::system::error_code ec;
  const auto st = tls_->handshake(ec);
  if (st == tls_status::done) {
    // Reported from a turn of its own, as an asynchronous completion would be.
    post_here([ec](driver& d) { d.owner_->tls_handshake_done(ec); });
    return;
  }
  tls_wait(st, [](driver& d, const boost::system::error_code& wec) {
    if (wec) {
      d.owner_->tls_handshake_done(wec);
      return;
    }
    d.start_tls_handshake();
  });
}

void driver::start_tls_read() {
  // reading_ is set. OpenSSL may already hold a record read ahead, which the
  // socket will not signal again: read it in a turn of its own.
  auto go = [](driver& d, const boost::system::error_code& ec) {
    d.reading_ = false;
    if (ec) {
      d.transport_failed(ec);
      return;
    }
    d.read_tls_now();
  };
  if (tls_->has_pending()) {
    post_here([go](driver& d) { go(d, {}); });
  } else {
    tls_wait(tls_status::want_read, go);
  }
}

void driver::read_tls_now() {
  // Until OpenSSL wants the socket again: a large payload's rest straight into
  // its message, anything else through the thread buffer. A pause stops it;
  // what is left stays in the socket or in OpenSSL until the resume.
  char* const buf = thread_buffer();
  std::size_t total = 0;
  while (want_read() && total < max_read_per_wake) {
    char* dst = buf;
    std::size_t room = thread_buffer_size;
    if (lc_.state() == transport_state::open && conn_) {
      if (auto [w, wn] = conn_->receive_window(direct_read_min); wn != 0) {
        dst = w;
        room = wn;
      }
    }
    boost::system::error_code ec;
    std::size_t got = 0;
    const auto st = tls_->read(dst, room, got, ec);
    if (st == tls_status::want_read) return;  // the next read starts when the turn ends
    if (st == tls_status::want_write) {
      // A TLS 1.3 post-handshake message needs an answer before more is read.
      reading_ = true;
      tls_wait(st, [](driver& d, const boost::system::error_code& wec) {
        d.reading_ = false;
        if (wec) {
          d.transport_failed(wec);
          return;
        }
        d.read_tls_now();
      });
      return;
    }
    if (ec) {
      transport_failed(ec);
      return;
    }
    if (dst != buf) {
      if (auto* hb = beat()) hb->on_inbound(heartbeat::clock::now());
      conn_->commit_window(got);
    } else {
      on_bytes(buf, got);
    }
    total += got;
  }
}

driver::write_result driver::write_tls_now() {
  // writing_ is set and wbuf_ holds the bytes; OpenSSL takes them whole or
  // keeps its place until the same bytes are offered again.
  boost::system::error_code ec;
  std::size_t n = 0;
  const auto st = tls_->write(wbuf_.data(), wbuf_.size(), n, ec);
  if (st == tls_status::done) {
    if (ec) {
      post_here([ec](driver& d) {
        d.writing_ = false;
        d.on_written(ec);
      });
      return write_result::failed;
    }
    writing_ = false;
    on_written({});
    return write_result::all;
  }
  tls_wait(st, [](driver& d, const boost::system::error_code& wec) {
    if (wec) {
      d.writing_ = false;
      d.on_written(wec);
      return;
    }
    (void)d.write_tls_now();  // done, failed (reported) or waiting again
  });
  return write_result::partly;
}

void driver::gather_segments() {
  // Owned bytes and shared frames, in wire order, behind what wbuf_ holds
  // (nothing: it is written before segments are gathered).
  for (const auto& seg : segs_->list) wbuf_.append(seg.bytes());
  segs_.reset();
}

void driver::tls_shutdown() {
  // RFC 8446 §6.1: close_notify out, and the peer's read. The lifecycle
  // decides what its completion means (tls_shutdown_done).
  boost::system::error_code ec;
  const auto st = tls_->shutdown(ec);
  if (st == tls_status::done) {
    post_here([ok = !ec](driver& d) { d.run(d.lc_.tls_shutdown_done(ok)); });
    return;
  }
  tls_wait(st, [](driver& d, const boost::system::error_code& wec) {
    if (wec) {
      d.run(d.lc_.tls_shutdown_done(false));
      return;
    }
    d.tls_shutdown();
  });
}

}  // namespace closewise::net::detail
