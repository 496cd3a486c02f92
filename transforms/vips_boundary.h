// Where transforms/ meets libvips' C side and its exceptions (internal to transforms/).
//
// libvips' C++ API throws; the rest of imgorigin returns Results. CatchVipsErrors() is the only
// place where those exceptions are caught, so what a libvips failure means to a client (422, 504)
// is decided once and no libvips text ever reaches a caller. The handle aliases give the C objects
// libvips hands out (blobs, g_malloc'd buffers, string vectors) an owner. A Deadline and its
// EvalWatches belong to one request; the watch's handler runs on libvips worker threads, which is
// why the kill flag is atomic. Everything else here is used by one thread at a time.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <string>
#include <vips/vips8>

#include "common/handle.h"
#include "common/status.h"

namespace imgorigin::transforms {

inline void UnrefBlob(VipsBlob* blob) { vips_area_unref(VIPS_AREA(blob)); }

using BlobHandle = common::Handle<VipsBlob, UnrefBlob>;
using GBufferHandle = common::Handle<void, g_free>;    // write_to_memory(), C *save_buffer()
using StrvHandle = common::Handle<char*, g_strfreev>;  // vips_image_get_fields()
using VipsImageHandle = common::Handle<VipsImage, g_object_unref>;

// A request's processing deadline. libvips cannot be interrupted from outside, so an EvalWatch
// kills the image being computed once the deadline passes; Killed() then tells a failure caused by
// that kill from a broken source.
class Deadline {
 public:
  explicit Deadline(std::chrono::milliseconds timeout);
  Deadline(const Deadline&) = delete;
  Deadline& operator=(const Deadline&) = delete;

  bool Passed() const;
  std::chrono::steady_clock::time_point at() const { return at_; }
  bool Killed() const { return killed_.load(std::memory_order_relaxed); }
  // The client-facing kDeadlineExceeded message.
  std::string Message() const;

 private:
  friend class EvalWatch;
  static void OnEval(VipsImage* image, VipsProgress* progress, void* deadline);

  std::chrono::milliseconds timeout_;
  std::chrono::steady_clock::time_point at_;
  std::atomic<bool> killed_{false};
};

// Applies `deadline` to every evaluation of `image` and of the images computed from it, for the
// lifetime of this object. Holds a reference to the image so that the handler can be
// disconnected; the deadline must outlive the watch.
class EvalWatch {
 public:
  EvalWatch(vips::VImage image, Deadline* deadline);
  EvalWatch(const EvalWatch&) = delete;
  EvalWatch& operator=(const EvalWatch&) = delete;
  ~EvalWatch();

 private:
  vips::VImage image_;
  gulong handler_ = 0;
};

// What the caller was doing, which decides what a libvips failure means.
enum class VipsStage {
  kDecoding,    // opening the source: the loader refused the bytes
  kProcessing,  // anything after: a truncated or corrupt body, or a kill by the deadline
};

// Runs `body`. If libvips throws, clears libvips' per-thread error buffer (its text would
// otherwise be prefixed to the next, unrelated failure on this thread) and returns the Error the
// failure means: kInvalidImage "could not be decoded" when `stage` reads kDecoding, else
// kDeadlineExceeded when `deadline` (may be null) killed the evaluation, else kInvalidImage
// "could not be processed". `stage` is read after the throw, so the body may move it along.
common::Result<void> CatchVipsErrors(const std::function<common::Result<void>()>& body,
                                     const VipsStage& stage, const Deadline* deadline);

}  // namespace imgorigin::transforms
