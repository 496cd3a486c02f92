#include "transforms/vips_boundary.h"

#include <utility>

namespace imgorigin::transforms {

using Clock = std::chrono::steady_clock;
using common::ErrorCode;

Deadline::Deadline(std::chrono::milliseconds timeout)
    : timeout_(timeout), at_(Clock::now() + timeout) {}

bool Deadline::Passed() const { return Killed() || Clock::now() >= at_; }

std::string Deadline::Message() const {
  return "processing took longer than " + std::to_string(timeout_.count()) + " ms";
}

void Deadline::OnEval(VipsImage* image, VipsProgress* /*progress*/, void* deadline) {
  auto* self = static_cast<Deadline*>(deadline);
  if (Clock::now() >= self->at_) {
    self->killed_.store(true, std::memory_order_relaxed);
    // Makes the next region request on this image fail, which unwinds the whole evaluation.
    vips_image_set_kill(image, TRUE);
  }
}

EvalWatch::EvalWatch(vips::VImage image, Deadline* deadline) : image_(std::move(image)) {
  vips_image_set_progress(image_.get_image(), TRUE);
  handler_ = g_signal_connect(image_.get_image(), "eval", G_CALLBACK(Deadline::OnEval), deadline);
}

EvalWatch::~EvalWatch() { g_signal_handler_disconnect(image_.get_image(), handler_); }

common::Result<void> CatchVipsErrors(const std::function<common::Result<void>()>& body,
                                     const VipsStage& stage, const Deadline* deadline) {
  try {
    return body();
  } catch (const vips::VError&) {
    vips_error_clear();
    if (stage == VipsStage::kDecoding) {
      return common::Fail(ErrorCode::kInvalidImage, "source image could not be decoded");
    }
    if (deadline != nullptr && deadline->Killed()) {
      return common::Fail(ErrorCode::kDeadlineExceeded, deadline->Message());
    }
    return common::Fail(ErrorCode::kInvalidImage, "source image could not be processed");
  }
}

}  // namespace imgorigin::transforms
