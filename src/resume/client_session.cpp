#include "closewise/resume/client_session.hpp"

#include <utility>

#include "closewise/error.hpp"

namespace closewise::resume {

std::string_view to_string(client_outcome_kind k) noexcept {
  switch (k) {
    case client_outcome_kind::fresh:
      return "fresh";
    case client_outcome_kind::resumed:
      return "resumed";
    case client_outcome_kind::refused:
      return "refused";
    case client_outcome_kind::not_negotiated:
      return "not_negotiated";
    case client_outcome_kind::failed:
      return "failed";
  }
  return "unknown";
}

client_session::client_session(session_settings settings) : settings_(settings) {}

struct offer client_session::offer_value() const {
  struct offer o;
  if (session_) {
    o.resume = session_->position();
    o.resume->attempt = attempts_ + 1;
  }
  return o;
}

std::string client_session::offer() {
  const struct offer o = offer_value();
  if (o.resume) attempts_ = o.resume->attempt;
  return format_offer(o);
}

client_outcome client_session::on_answer(const std::vector<std::string>& extensions) {
  client_outcome out;
  // A kept session is offered by offer(); what is kept is what was offered.
  const bool offered = session_ != nullptr;
  std::optional<answer> a;
  if (auto ec = find_answer(extensions, a)) {
    // RFC 6455 §9.1: a response the offer did not allow fails the connection.
    out.kind = client_outcome_kind::failed;
    out.failure = ec;
    if (offered) {
      out.handed_back = end();
      out.handback_error = error::resume_invalid;
      out.gap = true;
    }
    return out;
  }
  if (!a) {
    out.kind = client_outcome_kind::not_negotiated;
    if (offered) {
      out.handed_back = end();
      out.handback_error = error::resume_not_supported;
      out.gap = true;
    }
    return out;
  }
  out.status = a->status;
  const bool consistent =
      offered ? a->status != resume_status::fresh : a->status == resume_status::fresh;
  if (!consistent || a->id.is_zero() ||
      (a->status == resume_status::resumed && a->id != session_->id())) {
    out.kind = client_outcome_kind::failed;
    out.failure = error::bad_extension;
    if (offered) {
      out.handed_back = end();
      out.handback_error = error::resume_invalid;
      out.gap = true;
    }
    return out;
  }
  switch (a->status) {
    case resume_status::fresh:
      session_ = std::make_unique<session>(a->id, settings_);
      attempts_ = 0;
      out.kind = client_outcome_kind::fresh;
      return out;
    case resume_status::resumed: {
      session_->attach();
      // The server checked its own buffer; we check that its position fits ours.
      auto r = session_->resume(resume_point{a->id, *a->received, *a->sent, 0}, false);
      if (r.status != resume_status::resumed) {
        // docs/resume.md §2.6: the server said resumed but the positions do not fit.
        out.kind = client_outcome_kind::failed;
        out.failure = error::bad_extension;
        out.handed_back = std::move(r.handed_back);
        out.handback_error = error::resume_invalid;
        out.gap = true;
        session_.reset();
        return out;
      }
      out.kind = client_outcome_kind::resumed;
      out.replay_out = r.replay_out;
      out.replay_in = r.replay_in;
      return out;
    }
    default:
      return refuse(std::move(out), *a, a->status);
  }
}

client_outcome client_session::refuse(client_outcome out, const answer& a, resume_status st) {
  out.kind = client_outcome_kind::refused;
  out.handback_error = to_error(st);
  out.gap = true;
  if (st == resume_status::overflowed && a.received && a.sent &&
      *a.received <= session_->out().sent() && *a.received >= session_->out().acked() &&
      *a.sent >= session_->in().received()) {
    // The server's position is consistent with ours: what it received arrived.
    out.handed_back = session_->out().take_unacked_above(*a.received);
    out.gap_size = *a.sent - session_->in().received();
  } else {
    out.handed_back = session_->out().take_unacked();
  }
  session_ = std::make_unique<session>(a.id, settings_);
  attempts_ = 0;
  return out;
}

std::vector<message> client_session::on_close(close_fate fate) {
  if (!session_) return {};
  if (fate == close_fate::keep) {
    session_->detach();
    return {};
  }
  return end();
}

std::vector<message> client_session::expire(time_point now) {
  if (!session_ || session_->state() != session_state::detached || !session_->out().too_old(now))
    return {};
  return end();
}

std::vector<message> client_session::end() {
  if (!session_) return {};
  auto out = session_->end();
  session_.reset();
  return out;
}

}  // namespace closewise::resume
