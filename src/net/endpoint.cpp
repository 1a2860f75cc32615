#include "endpoint.hpp"

#include <algorithm>
#include <utility>

#include <sys/socket.h>

#include <boost/asio/post.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>

#include "closewise/error.hpp"

namespace closewise::net::detail {
namespace {

/// The endpoint whose handler runs on this thread (see endpoint::scope).
thread_local const endpoint* current_endpoint = nullptr;

/// Plain sockets are read through one buffer per thread, so an idle
/// connection holds no read buffer at all (ARCHITECTURE §6: <= 1 KiB each).
constexpr std::size_t thread_buffer_size = 64 * 1024;
/// TLS streams may hold decrypted bytes, so each keeps its own buffer.
constexpr std::size_t tls_buffer_size = 16 * 1024;
/// Bytes read per readiness event before other connections get a turn.
constexpr std::size_t max_read_per_wake = 1024 * 1024;
/// A write buffer grown beyond this is freed once written, so a burst does
/// not pin its peak memory for the connection's lifetime.
constexpr std::size_t max_retained_write_buffer = 256 * 1024;
/// Segments gathered into one write; Asio hands at most 64 to one writev.
constexpr std::size_t max_gather = 64;
/// Payload bytes a frame must still owe before they are read straight into
/// the message rather than through the thread buffer (saving one copy).
constexpr std::size_t direct_read_min = 4 * 1024;
/// A server sends a payload this large from the caller's buffer when nothing
/// else is queued (one writev, no copy into the output buffer).
constexpr std::size_t direct_send_min = 16 * 1024;

char* thread_buffer() {
  thread_local std::unique_ptr<char[]> buf(new char[thread_buffer_size]);
  return buf.get();
}

/// A transport failure as closewise::error (what map_transport_error gives).
error as_error(std::error_code ec) noexcept {
  return ec.category() == error_category() ? static_cast<error>(ec.value()) : error::transport_error;
}

bool is_eof(const boost::system::error_code& ec) noexcept {
  return ec == asio::error::eof || ec == ssl::error::stream_truncated;
}

}  // namespace

std::error_code map_transport_error(const boost::system::error_code& ec) noexcept {
  if (!ec) return {};
  if (is_eof(ec)) return error::eof_without_close;
  if (ec == asio::error::connection_reset || ec == asio::error::broken_pipe ||
      ec == asio::error::connection_aborted)
    return error::connection_reset;
  if (ec == asio::error::connection_refused) return error::connection_refused;
  if (ec == asio::error::host_not_found || ec == asio::error::host_not_found_try_again ||
      ec == asio::error::no_data || ec == asio::error::no_recovery ||
      ec == asio::error::service_not_found)
    return error::dns_failure;
  if (ec == asio::error::timed_out) return error::connect_timeout;
  if (ec == asio::error::operation_aborted) return error::aborted;
  if (ec.category() == asio::error::get_ssl_category() ||
      ec.category() == ssl::error::get_stream_category())
    return error::tls_error;
  return error::transport_error;
}

std::shared_ptr<const shared_frame> make_shared_frame(proto::message_kind kind,
                                                      std::string_view payload) {
  auto f = std::make_shared<shared_frame>();
  f->kind = kind;
  proto::frame_header h;
  h.op = kind == proto::message_kind::text ? proto::opcode::text : proto::opcode::binary;
  h.length = payload.size();
  std::uint8_t hdr[proto::max_header_size];
  f->header = proto::encode_header(h, hdr);
  f->bytes.reserve(f->header + payload.size());
  f->bytes.append(reinterpret_cast<const char*>(hdr), f->header);
  f->bytes.append(payload);
  return f;
}

asio::any_io_executor make_executor(asio::io_context& ioc, bool use_strand) {
  if (use_strand) return asio::make_strand(ioc);
  return ioc.get_executor();
}

// ------------------------------------------------------------------ scope --

endpoint::scope::scope(endpoint& e) noexcept : e_(e), prev_(current_endpoint) {
  current_endpoint = &e;
  ++e.depth_;
}

endpoint::scope::~scope() {
  if (e_.depth_ == 1) e_.after_io();  // runs with depth 1, so nested scopes never recurse
  --e_.depth_;
  current_endpoint = prev_;
}

// --------------------------------------------------------------- lifetime --

endpoint::endpoint(asio::io_context& ioc, bool use_strand, proto::role role,
                   const connection_options& opts)
    : strand_(use_strand ? std::make_unique<strand_type>(asio::make_strand(ioc.get_executor()))
                         : nullptr),
      opts_(opts),
      sock_(ioc.get_executor()),
      role_(role) {}

endpoint::~endpoint() = default;

bool endpoint::on_executor() noexcept {
  // Without a strand, any handler on the io_context's only thread is serialized with ours.
  return current_endpoint == this || (!opts_.use_strand && ioc_ex().running_in_this_thread());
}

template <class F>
void endpoint::post_here(F&& f) {
  post_to_ex([self = shared_from_this(), f = std::forward<F>(f)]() mutable {
    scope s(*self);
    f(*self);
  });
}

// ------------------------------------------------------------- public API --

std::error_code endpoint::send(proto::message_kind kind, std::string_view payload) {
  if (on_executor()) {
    scope s(*this);
    return send_now(kind, payload);
  }
  // Another thread: answer from the published state, then copy the message to the executor.
  const std::size_t need = payload.size() + proto::max_header_size;
  if (auto ec = check_send_foreign(need)) return ec;
  foreign_.fetch_add(need, std::memory_order_relaxed);
  post_here([kind, data = std::string(payload), need](endpoint& e) {
    e.foreign_.fetch_sub(need, std::memory_order_relaxed);
    // The close may have won the race; the application is told, never left guessing.
    if (e.send_now(kind, data)) e.deliver_error(error::not_sent);
  });
  return {};
}

std::error_code endpoint::send_shared(const std::shared_ptr<const shared_frame>& frame) {
  if (on_executor()) {
    scope s(*this);
    return send_shared_now(frame);
  }
  const std::size_t need = frame->bytes.size();
  if (auto ec = check_send_foreign(need)) return ec;
  foreign_.fetch_add(need, std::memory_order_relaxed);
  // Only the reference crosses threads; the bytes stay shared.
  post_here([frame, need](endpoint& e) {
    e.foreign_.fetch_sub(need, std::memory_order_relaxed);
    if (e.send_shared_now(frame)) e.deliver_error(error::not_sent);
  });
  return {};
}

std::error_code endpoint::check_send_foreign(std::size_t bytes) {
  const auto st = public_state();
  if (st == proto::state::connecting || st == proto::state::closed) return error::not_open;
  if (st == proto::state::closing_local) return error::already_closing;
  if (buffered_amount() + bytes > opts_.max_buffered) {
    // The same rule as on the executor: a peer that cannot keep up is asked to leave.
    if (closes_slow_consumers() && !slow_posted_.exchange(true, std::memory_order_relaxed))
      post_here([](endpoint& e) { e.slow_consumer(); });
    return error::queue_full;
  }
  return {};
}

std::error_code endpoint::ping(std::string_view payload) {
  if (payload.size() > proto::max_control_payload) return error::invalid_argument;
  if (on_executor()) {
    scope s(*this);
    if (!conn_ || phase_ != phase::open) return error::not_open;
    return conn_->ping(payload);
  }
  const auto st = public_state();
  if (st == proto::state::connecting || st == proto::state::closed) return error::not_open;
  if (st == proto::state::closing_local) return error::already_closing;
  post_here([data = std::string(payload)](endpoint& e) {
    if (e.conn_ && e.phase_ == phase::open) (void)e.conn_->ping(data);
  });
  return {};
}

std::error_code endpoint::close(close_code code, std::string_view reason, bool endpoint_rules) {
  // ARCHITECTURE §2: refuse a code or reason that may not be sent; never truncate.
  if (auto ec = endpoint_rules ? validate_endpoint_close(code, reason)
                               : validate_app_close(code, reason))
    return ec;
  if (on_executor()) {
    scope s(*this);
    return close_now(code, reason, endpoint_rules);
  }
  const auto st = public_state();
  if (st == proto::state::closing_local) return error::already_closing;
  if (st == proto::state::closed) return error::not_open;
  post_here([code, r = std::string(reason), endpoint_rules](endpoint& e) {
    (void)e.close_now(code, r, endpoint_rules);
  });
  return {};
}

void endpoint::abort_connection() {
  if (on_executor()) {
    scope s(*this);
    abort_now(error::aborted);
    return;
  }
  post_here([](endpoint& e) { e.abort_now(error::aborted); });
}

std::size_t endpoint::buffered_amount() const noexcept {
  return buffered_.load(std::memory_order_relaxed) + foreign_.load(std::memory_order_relaxed);
}

std::error_code endpoint::check_send_now(std::size_t bytes) {
  if (!conn_ || phase_ != phase::open) {
    return phase_ < phase::open ? error::not_open
                                : (conn_ && conn_->get_state() == proto::state::closing_local
                                       ? error::already_closing
                                       : error::not_open);
  }
  if (pending_output() + bytes > opts_.max_buffered) {
    if (closes_slow_consumers()) slow_consumer();
    return error::queue_full;
  }
  return {};
}

std::error_code endpoint::send_now(proto::message_kind kind, std::string_view payload) {
  if (auto ec = check_send_now(payload.size() + proto::max_header_size)) return ec;
  if (payload.size() >= direct_send_min && role_ == proto::role::server && !tls_ && !deflate_ &&
      !writing_ && !segs_ && wbuf_.empty() && conn_->output_size() == 0 && sock_.is_open() &&
      !transport_failed_)
    return send_direct(kind, payload);
  return conn_->send(kind, payload);
}

std::error_code endpoint::send_direct(proto::message_kind kind, std::string_view payload) {
  std::uint8_t hdr[proto::max_header_size];
  std::size_t hlen = 0;
  if (auto ec = conn_->send_external(kind, payload, hdr, hlen)) return ec;
  // Nothing is queued or in flight, so header and payload go out now, from
  // the caller's buffer; only what the socket does not take is copied.
  const std::array<asio::const_buffer, 2> bufs{asio::buffer(hdr, hlen), asio::buffer(payload)};
  boost::system::error_code ec;
  const std::size_t n = sock_.write_some(bufs, ec);
  if (ec && ec != asio::error::would_block && ec != asio::error::try_again) {
    on_transport_error(ec);  // accepted, then lost with the connection: on_close says so
    return {};
  }
  const std::size_t sent = ec ? 0 : n;
  if (sent < hlen) wbuf_.append(reinterpret_cast<const char*>(hdr) + sent, hlen - sent);
  const std::size_t from = sent > hlen ? sent - hlen : 0;
  if (from < payload.size()) wbuf_.append(payload.substr(from));
  return {};
}

std::error_code endpoint::send_shared_now(const std::shared_ptr<const shared_frame>& frame) {
  if (auto ec = check_send_now(frame->bytes.size())) return ec;
  if (deflate_) return conn_->send(frame->kind, frame->payload());
  // RFC 6455 §5.5.1: no data frame after our close frame (can_send is false from then on).
  if (!conn_->can_send()) {
    return conn_->get_state() == proto::state::closing_local ? error::already_closing
                                                             : error::not_open;
  }
  if (!segs_) segs_ = std::make_unique<segments>();
  // Frames the connection queued earlier (pongs, sends) must go out first.
  if (conn_->output_size() != 0) {
    out_segment own;
    conn_->swap_output(own.owned);
    segs_->bytes += own.owned.size();
    segs_->list.push_back(std::move(own));
  }
  segs_->bytes += frame->bytes.size();
  segs_->list.push_back(out_segment{{}, frame});
  return {};
}

std::error_code endpoint::close_now(close_code code, std::string_view reason, bool endpoint_rules) {
  if (phase_ < phase::open) {
    if (phase_ == phase::idle) return error::not_open;
    cancel_before_open(error::aborted);
    return {};
  }
  if (phase_ != phase::open) return error::not_open;
  return endpoint_rules ? conn_->close_endpoint(code, reason) : conn_->close(code, reason);
}

void endpoint::abort_now(std::error_code why) {
  if (phase_ < phase::open) {
    if (phase_ != phase::idle) cancel_before_open(why);
    return;
  }
  if (phase_ == phase::done) return;
  transport_failed_ = true;
  if (phase_ == phase::open) {
    conn_->abort(why);
  } else {
    unclean_ = true;
    unclean_why_ = as_error(why);
  }
}

void endpoint::slow_consumer() {
  if (slow_consumer_ || phase_ != phase::open) return;
  slow_consumer_ = true;
  // A peer that does not read cannot grow our memory: ask it to leave; the
  // close timer aborts it with error::slow_consumer if it cannot even take that.
  (void)conn_->close_endpoint(close_code::policy_violation, "slow consumer");
}

// ------------------------------------------------------------- proto hooks --

void endpoint::on_message(proto::message_kind kind, std::string_view payload) {
  if (!detached()) deliver_message(kind, payload);
}

void endpoint::on_pong(std::string_view payload) {
  if (!detached()) deliver_pong(payload);
}

void endpoint::on_ping(std::string_view payload) {
  if (!detached()) deliver_ping(payload);
}

void endpoint::on_closed(const close_event&) {
  // Teardown continues in after_io(), once the hook has returned.
}

// ------------------------------------------------------------------ setup --

void endpoint::prepare_socket() {
  boost::system::error_code ignored;
  sock_.set_option(tcp::no_delay(true), ignored);
  // After a full inline read, the rest is read without blocking (see on_read).
  sock_.non_blocking(true, ignored);
}

void endpoint::write_raw(std::string bytes) {
  wbuf_ = std::move(bytes);
  raw_write_ = true;
  flush();
}

void endpoint::open_connection(proto::config cfg) {
  deflate_ = cfg.deflate.has_value();
  conn_.emplace(role_, *this, std::move(cfg));
  conn_->open();
  phase_ = phase::open;
  set_public_state(proto::state::open);
}

void endpoint::receive_frames(char* data, std::size_t size) {
  // Our read buffers are scratch space, so the connection may unmask in place.
  if (size != 0 && conn_ && conn_->can_receive()) conn_->receive_in_place(data, size);
}

// ------------------------------------------------------------------- read --

bool endpoint::want_read() const noexcept {
  switch (phase_) {
    case phase::http_handshake:
    case phase::open:
    case phase::draining:
    case phase::lingering: break;
    default: return false;
  }
  if (!sock_.is_open() || tls_shutdown_) return false;
  // Backpressure: while the peer does not take our output, do not read more
  // (auto-pongs and echoes would otherwise grow the queue without bound).
  return phase_ != phase::open || pending_output() <= opts_.max_buffered;
}

void endpoint::start_read() {
  if (reading_ || !want_read()) return;
  reading_ = true;
  if (tls_) {
    if (!tls_buf_) tls_buf_ = std::make_unique_for_overwrite<char[]>(tls_buffer_size);
    on_ex([this](auto h) { tls_->async_read_some(asio::buffer(tls_buf_.get(), tls_buffer_size), std::move(h)); },
          [self = shared_from_this()](const boost::system::error_code& ec, std::size_t n) {
            scope s(*self);
            self->reading_ = false;
            if (n > 0) self->on_bytes(self->tls_buf_.get(), n);
            if (ec) {
              if (ec != asio::error::operation_aborted) self->on_transport_error(ec);
              return;
            }
            self->start_read();
          });
    return;
  }
  // A read, not a readiness wait: Asio's reactor re-arms the descriptor
  // (epoll_ctl) for every wait. A read costs at most one speculative recv()
  // (EAGAIN in Boost 1.81) and then completes from the next epoll event.
  on_ex([this](auto h) { sock_.async_read_some(asio::buffer(rbuf_), std::move(h)); },
        asio::bind_allocator(exact_allocator<void>{},
                             [self = shared_from_this()](const boost::system::error_code& ec,
                                                         std::size_t n) {
                               scope s(*self);
                               self->reading_ = false;
                               // Defer only when another connection read last on this
                               // thread: then a batch of connections is being served.
                               // One busy connection alone gains nothing from waiting.
                               thread_local const endpoint* last_reader = nullptr;
                               self->read_again_later_ = !ec && last_reader != self.get();
                               last_reader = self.get();
                               self->on_read(ec, n);
                             }));
}

void endpoint::start_read_later() {
  if (reading_ || !want_read()) return;
  reading_ = true;  // no other read may start meanwhile
  post_to_ex([self = shared_from_this()] {
    self->reading_ = false;
    self->start_read();
  });
}

void endpoint::on_read(const boost::system::error_code& ec, std::size_t n) {
  if (ec) {
    if (ec != asio::error::operation_aborted) on_transport_error(ec);
    return;
  }
  on_bytes(rbuf_.data(), n);
  // A short read drained the socket; a full one leaves more, read now: the
  // rest of a large payload straight into its message, the rest through the
  // thread buffer.
  if (n == rbuf_.size()) {
    char* const buf = thread_buffer();
    std::size_t total = n;
    while (want_read()) {
      char* dst = buf;
      std::size_t room = thread_buffer_size;
      if (phase_ == phase::open && conn_) {
        if (auto [w, wn] = conn_->receive_window(direct_read_min); wn != 0) {
          dst = w;
          room = wn;
        }
      }
      boost::system::error_code rec;
      const std::size_t got = sock_.read_some(asio::buffer(dst, room), rec);
      if (rec == asio::error::would_block || rec == asio::error::try_again) break;
      if (rec) {
        on_transport_error(rec);
        return;
      }
      if (dst != buf) {
        if (heartbeat_) heartbeat_->on_inbound(heartbeat::clock::now());
        conn_->commit_window(got);
      } else {
        on_bytes(buf, got);
      }
      total += got;
      if (got < room || total >= max_read_per_wake) break;
    }
  }
  // The next read starts when the scope ends (after_io), after our output left.
}

void endpoint::read_arrived() {
  if (tls_ || !want_read()) return;
  boost::system::error_code ec;
  const std::size_t got = sock_.read_some(asio::buffer(thread_buffer(), thread_buffer_size), ec);
  if (ec == asio::error::would_block || ec == asio::error::try_again) return;
  if (ec) {
    on_transport_error(ec);
    return;
  }
  on_bytes(thread_buffer(), got);
}

void endpoint::on_bytes(char* data, std::size_t size) {
  switch (phase_) {
    case phase::http_handshake: handshake_bytes(data, size); break;
    case phase::open:
      // Any inbound byte is a sign of life (ARCHITECTURE §4: idle means no inbound traffic).
      if (heartbeat_) heartbeat_->on_inbound(heartbeat::clock::now());
      receive_frames(data, size);
      break;
    // RFC 6455 §5.5.1: nothing may follow a close frame; whatever does is dropped.
    default: break;
  }
}

void endpoint::on_transport_error(const boost::system::error_code& ec) {
  const std::error_code why = map_transport_error(ec);
  switch (phase_) {
    case phase::connecting:
    case phase::tls_handshake:
    case phase::http_handshake: fail_before_open(why); break;
    case phase::open:
      transport_failed_ = true;
      if (is_eof(ec)) conn_->receive_eof(); else conn_->abort(why);
      break;
    case phase::draining:
      transport_failed_ = true;
      if (!is_eof(ec)) {
        unclean_ = true;
        unclean_why_ = as_error(why);
      }
      break;
    case phase::lingering:
      // RFC 6455 §7.1.1: the server closed TCP first, as it should.
      if (!is_eof(ec)) {
        unclean_ = true;
        unclean_why_ = as_error(why);
      } else if (tls_ && role_ == proto::role::client && !tls_shutdown_ && sock_.is_open()) {
        // The server's close_notify: answer with ours, then wait for its FIN.
        tls_reply_close_notify();
        return;
      }
      close_socket();
      finish_from_conn();
      break;
    default: break;
  }
}

// ------------------------------------------------------------------ write --

std::size_t endpoint::pending_output() const noexcept {
  return wbuf_.size() + (segs_ ? segs_->bytes : 0) + (conn_ ? conn_->output_size() : 0);
}

void endpoint::flush() {
  for (;;) {
    if (writing_ || !sock_.is_open() || transport_failed_) return;
    if (segs_) {
      flush_segments();
      return;
    }
    if (wbuf_.empty()) {
      if (!conn_ || conn_->output_size() == 0) return;
      conn_->swap_output(wbuf_);  // everything queued since the last write goes out in one call
    }
    writing_ = true;
    if (tls_) break;
    // Write now, without blocking. Most writes complete at once: the bytes
    // leave before this handler returns, no completion handler runs, and a
    // draining connection closes TCP in this same turn, with no drain timer.
    // A server's close frame leaves at once, not held back to share a
    // segment with the FIN that follows (MSG_MORE): that saved a segment per
    // connection but delayed the client's close by about 2.5 µs (bench/RESULTS.md).
    boost::system::error_code ec;
    const std::size_t n = sock_.send(asio::buffer(wbuf_), 0, ec);
    if (!ec && n == wbuf_.size()) {
      writing_ = false;
      on_written({});
      continue;  // what was queued behind it (frames behind the 101)
    }
    if (ec && ec != asio::error::would_block && ec != asio::error::try_again) {
      // Reported from a handler of its own, as an asynchronous failure would be.
      post_here([ec](endpoint& e) {
        e.writing_ = false;
        e.on_written(ec);
      });
      return;
    }
    // Rare (the socket's send buffer is full): keep only what is left.
    if (!ec) wbuf_.erase(0, n);
    break;
  }
  auto done = [self = shared_from_this()](const boost::system::error_code& ec, std::size_t) {
    scope s(*self);
    self->writing_ = false;
    self->on_written(ec);
  };
  if (tls_) {
    on_ex([this](auto h) { asio::async_write(*tls_, asio::buffer(wbuf_), std::move(h)); }, std::move(done));
  } else {
    on_ex([this](auto h) { asio::async_write(sock_, asio::buffer(wbuf_), std::move(h)); },
          std::move(done));
  }
}

void endpoint::flush_segments() {
  // Whatever the connection produced since the last shared frame goes after it.
  auto& sg = *segs_;
  if (conn_ && conn_->output_size() != 0) {
    out_segment own;
    conn_->swap_output(own.owned);
    sg.bytes += own.owned.size();
    sg.list.push_back(std::move(own));
  }
  std::vector<asio::const_buffer> bufs;
  bufs.reserve(std::min(sg.list.size(), max_gather));
  for (std::size_t i = 0; i < sg.list.size() && i < max_gather; ++i) {
    const auto b = sg.list[i].bytes();
    bufs.emplace_back(b.data(), b.size());
  }
  sg.inflight = bufs.size();
  writing_ = true;
  auto done = [self = shared_from_this()](const boost::system::error_code& ec, std::size_t) {
    scope s(*self);
    self->writing_ = false;
    self->on_written(ec);
  };
  if (tls_) {
    on_ex([&](auto h) { asio::async_write(*tls_, bufs, std::move(h)); }, std::move(done));
  } else {
    on_ex([&](auto h) { asio::async_write(sock_, bufs, std::move(h)); }, std::move(done));
  }
}

void endpoint::on_written(const boost::system::error_code& ec) {
  if (segs_ && segs_->inflight != 0) {
    auto& sg = *segs_;
    for (std::size_t i = 0; i < sg.inflight; ++i) sg.bytes -= sg.list[i].bytes().size();
    sg.list.erase(sg.list.begin(), sg.list.begin() + static_cast<std::ptrdiff_t>(sg.inflight));
    sg.inflight = 0;
    if (sg.list.empty()) segs_.reset();  // back to the plain path
  }
  wbuf_.clear();
  // The HTTP response is written once: an idle connection keeps no buffer for it.
  if (raw_write_ || wbuf_.capacity() > max_retained_write_buffer) std::string().swap(wbuf_);
  if (ec) {
    if (ec != asio::error::operation_aborted) on_transport_error(ec);
    return;
  }
  if (std::exchange(raw_write_, false)) raw_write_done();
}

// ------------------------------------------------------------------ timer --

void endpoint::arm_timer(timer_use use, std::chrono::milliseconds after) {
  timer_use_ = use;
  const auto gen = ++timer_gen_;
  if (!timer_) timer_ = std::make_unique<timer_type>(ioc_ex());
  timer_->expires_after(after);
  on_ex([this](auto h) { timer_->async_wait(std::move(h)); },
        [self = shared_from_this(), gen](const boost::system::error_code& ec) {
          if (ec == asio::error::operation_aborted) return;
          scope s(*self);
          if (gen == self->timer_gen_) self->on_timer();
        });
}

void endpoint::cancel_timer() noexcept {
  timer_use_ = timer_use::none;
  ++timer_gen_;
  // An idle connection without a heartbeat keeps no timer. Destroying it
  // completes its wait with operation_aborted, which the handler ignores.
  timer_.reset();
}

void endpoint::on_timer() {
  const auto use = std::exchange(timer_use_, timer_use::none);
  switch (use) {
    case timer_use::connect:
    case timer_use::handshake: handshake_timer_fired(use); break;
    case timer_use::close:
      if (phase_ == phase::open && conn_->get_state() != proto::state::closed) {
        transport_failed_ = true;
        if (slow_consumer_) conn_->abort(error::slow_consumer); else conn_->on_close_timeout();
      }
      break;
    case timer_use::drain:
      // Our last frames could not be written in time: the peer is not reading.
      if (phase_ == phase::draining) {
        transport_failed_ = true;
        unclean_ = true;
        unclean_why_ = slow_consumer_ ? error::slow_consumer : error::close_timeout;
      }
      break;
    case timer_use::linger:
      // The server did not close TCP first; close it ourselves (RFC 6455 §7.1.1).
      end_linger();
      break;
    case timer_use::idle: heartbeat_tick(); break;
    case timer_use::none: break;
  }
}

void endpoint::start_heartbeat(const heartbeat_config& cfg, double u) {
  if (!cfg.enabled() || phase_ != phase::open) return;
  heartbeat_ = std::make_unique<heartbeat>(cfg);
  heartbeat_->start(heartbeat::clock::now(), u);
  arm_heartbeat();
}

void endpoint::arm_heartbeat() {
  const auto left = heartbeat_->next_wakeup() - heartbeat::clock::now();
  arm_timer(timer_use::idle,
            std::max(std::chrono::milliseconds(0),
                     std::chrono::ceil<std::chrono::milliseconds>(left)));
}

void endpoint::heartbeat_tick() {
  // Once a close frame went either way, the close timer bounds the rest.
  if (phase_ != phase::open || !heartbeat_ || conn_->get_state() != proto::state::open) return;
  switch (heartbeat_->poll(heartbeat::clock::now())) {
    case heartbeat::action::timeout:
      // ARCHITECTURE §4: drop the dead peer; it is reported locally as 1006.
      abort_now(error::heartbeat_timeout);
      return;
    case heartbeat::action::send_ping: (void)conn_->ping({}); break;
    case heartbeat::action::none: break;
  }
  arm_heartbeat();
}

// --------------------------------------------------------------- teardown --

void endpoint::after_io() {
  const bool read_later = std::exchange(read_again_later_, false);
  if (phase_ == phase::open) {
    const auto st = conn_->get_state();
    if (st == proto::state::closed) {
      phase_ = phase::draining;
    } else if ((st == proto::state::closing_local || st == proto::state::closing_remote) &&
               timer_use_ != timer_use::close) {
      // RFC 6455 §7.1.1 leaves the wait open-ended; closewise bounds it.
      arm_timer(timer_use::close, opts_.close_timeout);
    }
  }
  if (phase_ == phase::draining && transport_failed_) {
    close_socket();
    finish_from_conn();
    return;
  }
  flush();
  if (phase_ == phase::draining) {
    if (!writing_ && pending_output() == 0) {
      end_tcp();
    } else if (!transport_failed_ && timer_use_ != timer_use::drain) {
      // Only a write that could not finish at once needs a bound.
      arm_timer(timer_use::drain, opts_.close_timeout);
    }
  }
  if (phase_ == phase::done) return;
  buffered_.store(pending_output(), std::memory_order_relaxed);
  if (conn_) set_public_state(conn_->get_state());
  if (phase_ == phase::open && pending_output() > opts_.max_buffered && closes_slow_consumers())
    slow_consumer();
  // After a read, the next one starts behind the handlers already queued (the
  // rest of this epoll batch). Asio tries a read at once (a speculative recv);
  // started now it nearly always finds nothing, because the peer has not yet
  // seen our reply, and costs an EAGAIN recv() per message. Started later it
  // often finds the peer's next message already there. Beast gets the same
  // effect from its posted write completion.
  if (read_later && phase_ == phase::open) start_read_later(); else start_read();
}

void endpoint::end_tcp() {
  const bool clean = conn_->result() && conn_->result()->was_clean;
  if (!clean && conn_->result() && conn_->result()->initiator == initiator::local && sock_.is_open()) {
    // We failed the connection (1002, 1007, 1009, ...) and the peer may still be
    // sending: closing now, with its bytes unread, makes the kernel answer with a
    // RST that can destroy our close frame before the peer reads it. So half-close
    // (our FIN follows the close frame, RFC 6455 §7.1.7), discard what still comes,
    // and close on the peer's EOF or after a bounded linger.
    if (!tls_) {
      boost::system::error_code ignored;
      sock_.shutdown(tcp::socket::shutdown_send, ignored);
    }
    phase_ = phase::lingering;
    arm_timer(timer_use::linger, close_linger().count() > 0 ? close_linger() : std::chrono::milliseconds(1000));
    return;
  }
  if (role_ == proto::role::server && clean && tls_ && sock_.is_open()) {
    tls_close_notify();
    return;
  }
  if (role_ == proto::role::server || !clean) {
    // RFC 6455 §7.1.1: "the underlying TCP connection, in most normal cases,
    // SHOULD be closed first by the server, so that it holds the TIME_WAIT state".
    close_socket();
    finish_from_conn();
    return;
  }
  // The client lets the server close first, and waits a bounded time for it.
  phase_ = phase::lingering;
  arm_timer(timer_use::linger, close_linger());
}

void endpoint::tls_close_notify() {
  // RFC 8446 §6.1: "Each party MUST send a "close_notify" alert before closing
  // its write side of the connection". The TLS shutdown also reads the peer's
  // alert, so the pending read is cancelled and no other starts (want_read);
  // the peer's reply, or its EOF, or the linger timer ends the connection.
  tls_shutdown_ = true;
  phase_ = phase::lingering;
  boost::system::error_code ignored;
  sock_.cancel(ignored);
  arm_timer(timer_use::linger, std::min(opts_.close_timeout, std::chrono::milliseconds(1000)));
  on_ex([this](auto h) { tls_->async_shutdown(std::move(h)); },
        [self = shared_from_this()](const boost::system::error_code&) {
          scope s(*self);
          self->end_linger();
        });
}

void endpoint::tls_reply_close_notify() {
  // RFC 8446 §6.1: a client that received close_notify sends its own before it
  // closes. The server's TLS shutdown then completes, and the server closes TCP
  // first (RFC 6455 §7.1.1), which ends this client's linger with EOF. The
  // linger timer, armed when the client started waiting, bounds both steps.
  tls_shutdown_ = true;
  on_ex([this](auto h) { tls_->async_shutdown(std::move(h)); },
        [self = shared_from_this()](const boost::system::error_code& ec) {
          scope s(*self);
          // An error: the server is already gone (it did not wait for our alert).
          if (ec || self->phase_ != phase::lingering || !self->sock_.is_open()) return self->end_linger();
          self->on_ex([self](auto h) { self->sock_.async_wait(tcp::socket::wait_read, std::move(h)); },
                      [self](const boost::system::error_code&) {
                        scope s2(*self);
                        self->end_linger();
                      });
        });
}

void endpoint::end_linger() {
  // finish() closes the socket.
  if (phase_ == phase::lingering) finish_from_conn();
}

void endpoint::close_socket() noexcept {
  boost::system::error_code ignored;
  if (sock_.is_open()) sock_.close(ignored);
}

void endpoint::finish_from_conn() {
  close_event ev = conn_ && conn_->result() ? *conn_->result() : close_event{};
  if (!conn_ || !conn_->result()) ev.error = error::aborted;
  if (unclean_) {
    ev.was_clean = false;
    if (!ev.error) ev.error = unclean_why_;
  }
  finish(std::move(ev));
}

void endpoint::finish(close_event ev) {
  if (phase_ == phase::done) return;
  phase_ = phase::done;
  cancel_timer();
  close_socket();
  tls_buf_.reset();
  heartbeat_.reset();
  std::string().swap(wbuf_);
  // Queued frames are dropped; the ones in flight stay alive until their write completes.
  if (segs_) {
    auto& sg = *segs_;
    for (std::size_t i = sg.inflight; i < sg.list.size(); ++i) sg.bytes -= sg.list[i].bytes().size();
    sg.list.resize(sg.inflight);
    if (sg.list.empty()) segs_.reset();
  }
  buffered_.store(0, std::memory_order_relaxed);
  set_public_state(proto::state::closed);
  if (!detached()) deliver_close(ev);
}

}  // namespace closewise::net::detail
