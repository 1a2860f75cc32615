// The server's half of resume (docs/resume.md §2.4, §2.5, §6, §10 "Server"):
// negotiation through the session store before the 101, the link while the
// connection is open, and keep-or-end when it closes.
#include "closewise/error.hpp"
#include "closewise/resume/fate.hpp"
#include "session_impl.hpp"

namespace closewise::net::detail {

void session_impl::negotiate_resume(resume::offer o, std::string subprotocol, char* rest,
                                    std::size_t size) {
  rs_ = std::make_unique<server_resume>();
  rs_->offer = std::move(o);
  rs_->subprotocol = std::move(subprotocol);
  rs_->rest.assign(rest, size);
  rs_->waiting = true;
  auto& store = *shared_->cfg.resume_store;
  if (rs_->offer.resume) {
    store.attach_attempt(rs_->offer.resume->id, rs_->offer.resume->attempt, {}, preempt_me(),
                         on_store(&session_impl::resume_attached));
  } else {
    store.create({}, preempt_me(), on_store(&session_impl::resume_created));
  }
}

/// docs/resume.md §6.1: a newer connection resumed the session; this one
/// (half-open, most likely) lets go with 1006, which keeps the session.
std::function<void()> session_impl::preempt_me() {
  return [w = std::weak_ptr<session_impl>(shared_impl())] {
    if (auto s = w.lock()) s->drv_.abort();
  };
}

/// Store completions run on the store's thread (Redis) or inline (memory):
/// either way the step runs on this connection's executor.
std::function<void(std::error_code, resume::session_store::session_ptr)> session_impl::on_store(
    resume_step step) {
  return [self = shared_impl(), step](std::error_code ec, resume::session_store::session_ptr p) {
    auto box = std::make_shared<resume::session_store::session_ptr>(std::move(p));
    self->drv_.dispatch_to_ex([self, step, ec, box] {
      driver::scope s(self->drv_);
      (self.get()->*step)(ec, std::move(*box));
    });
  };
}

void session_impl::resume_attached(std::error_code ec, resume::session_store::session_ptr p) {
  auto& store = *shared_->cfg.resume_store;
  if (!rs_ || !hs_) {
    // The connection ended while the store answered: the session stays as it was.
    if (p) store.detach(std::move(p), [](auto, auto) {});
    return;
  }
  if (ec == error::resume_stale_attempt) {
    // docs/resume.md §6.1: the late handshake of an attempt its client gave
    // up on. The live connection keeps the session; whoever sent this (no
    // one is reading, most likely) learns why. RFC 9110 §15.5.10: the request
    // conflicts with the current state of the target resource.
    rs_.reset();
    if (const auto& o = shared_->cfg.observer) o->resume_failed(metrics::role::server, "stale");
    proto::http_headers h;
    h.fields.emplace_back("Closewise-Resume-Status", "stale");
    refuse(proto::server_handshake::refuse(409, h, "a later attempt took this session"));
    return;
  }
  if (ec) {
    const auto st = resume::status_of(ec);
    if (!st) {
      // docs/resume.md §2.5: the session may still exist in a store briefly
      // out of reach, so the client keeps it and retries (RFC 9110 §15.6.4).
      rs_.reset();
      proto::http_headers h;
      h.fields.emplace_back("Retry-After", "1");
      h.fields.emplace_back("Closewise-Resume-Status", "unavailable");
      refuse(proto::server_handshake::refuse(503, h, "resume store unavailable"));
      return;
    }
    rs_->answer.status = *st;
  } else {
    auto r = p->resume(*rs_->offer.resume);
    if (r.status == resume::resume_status::resumed) {
      rs_->held = std::move(p);
      rs_->answer.status = r.status;
      rs_->event.replay_out = r.replay_out;
      rs_->event.replay_in = r.replay_in;
      resume_created({}, std::move(rs_->held));
      return;
    }
    // A refusal ends the old session and starts a new one on this connection.
    rs_->answer.status = r.status;
    rs_->answer.received = p->in().committed();
    rs_->answer.sent = p->out().sent();
    rs_->event.handed_back = std::move(r.handed_back);
    rs_->event.handback_error = resume::to_error(r.status);
    store.end(p->id(), p->epoch(), [](std::error_code) {});
  }
  store.create({}, preempt_me(), on_store(&session_impl::resume_created));
}

void session_impl::resume_created(std::error_code ec, resume::session_store::session_ptr p) {
  if (!rs_ || !hs_) {
    // The connection ended while the store answered: give the session back.
    if (p) shared_->cfg.resume_store->detach(std::move(p), [](auto, auto) {});
    return;
  }
  if (ec || !p) {
    rs_.reset();
    proto::http_headers h;
    h.fields.emplace_back("Retry-After", "1");
    h.fields.emplace_back("Closewise-Resume-Status", "unavailable");
    refuse(proto::server_handshake::refuse(503, h, "resume store unavailable"));
    return;
  }
  rs_->held = std::move(p);
  if (!rs_->offer.resume) rs_->answer.status = resume::resume_status::fresh;
  rs_->event.status = rs_->answer.status;
  resume_accept();
}

void session_impl::resume_accept() {
  auto& r = *rs_;
  r.waiting = false;
  r.answer.id = r.held->id();
  if (r.answer.status == resume::resume_status::resumed) {
    r.answer.received = r.held->in().committed();
    r.answer.sent = r.held->out().sent();
  }
  r.link = std::make_unique<resume_link>(drv_, r.mu, *r.held);
  if (shared_->cfg.resume_store->durable()) r.link->commit_through(shared_->cfg.resume_store.get());
  std::string rest = std::move(r.rest);
  const std::string sub = r.subprotocol;
  accept(sub, rest.data(), rest.size(), resume::format_answer(r.answer));
}

void session_impl::resume_report() {
  auto& ev = rs_->event;
  if (const auto& o = shared_->cfg.observer) {
    // docs/metrics.md, "Resume": a new session is neither a resume nor a failure.
    if (ev.status == resume::resume_status::resumed) {
      o->resumed(metrics::role::server);
      o->replayed(metrics::role::server, static_cast<std::size_t>(ev.replay_out));
    } else if (ev.status != resume::resume_status::fresh) {
      o->resume_failed(metrics::role::server, resume::to_string(ev.status));
    }
  }
  if (shared_->cfg.on_resume) {
    callback_gate::scope g(shared_->gate);
    if (g.open()) shared_->cfg.on_resume(*this, ev);
  }
  ev.handed_back.clear();
}

void session_impl::resume_hand_back(std::vector<resume::message> msgs, std::error_code why) {
  if (msgs.empty() || !shared_->cfg.on_resume) return;
  callback_gate::scope g(shared_->gate);
  if (!g.open()) return;
  server_resume_event ev;
  ev.status = resume::resume_status::ended;
  ev.handed_back = std::move(msgs);
  ev.handback_error = why;
  shared_->cfg.on_resume(*this, ev);
}

/// docs/resume.md §6: keep the session for the client's return, or end it.
void session_impl::resume_ended(const close_event& ev) {
  if (!rs_ || !rs_->held || !rs_->link) return;
  rs_->link->stop();
  auto& store = *shared_->cfg.resume_store;
  std::optional<close_code> sent;
  if (ev.initiator == initiator::local) sent = ev.code;
  resume::session_store::session_ptr held;
  {
    std::lock_guard lock(rs_->mu);  // a send from another thread may still be in the link
    held = std::move(rs_->held);
  }
  if (resume::server_fate(ev, sent) == resume::close_fate::keep) {
    // Memory store: completes at once; Redis: on its thread, after the final commit.
    store.detach(std::move(held),
                 [self = shared_impl()](std::error_code ec, std::vector<resume::message> back) {
                   if (ec)
                     self->drv_.post_to_ex([self, ec, b = std::move(back)]() mutable {
                       self->resume_hand_back(std::move(b), ec);
                     });
                 });
    return;
  }
  const auto id = held->id();
  const auto epoch = held->epoch();
  auto back = held->end();
  store.end(id, epoch, [](std::error_code) {});
  resume_hand_back(std::move(back), error::resume_ended);
}

void session_impl::on_extension_control(std::uint8_t op, std::string_view payload) {
  if (rs_ && rs_->link) rs_->link->on_control(op, payload);
}

void session_impl::on_close_frame(close_code, std::string_view) {
  if (rs_ && rs_->link) rs_->link->before_close();
}

// docs/resume.md §10, server step 6: a close the server starts (1012 restart, 1001
// shutdown, an application's close) acks what it received first, so the client
// does not replay messages the server already delivered.
void session_impl::before_local_close() {
  if (rs_ && rs_->link) rs_->link->before_close();
}

}  // namespace closewise::net::detail
