// Counts the scans (SOS segments) of a JPEG stream, fed in pieces of any size.
//
// libjpeg decodes a progressive JPEG by running every scan over the whole image before the first
// row comes out, inside one call libvips cannot interrupt, and its loader sets no scan limit: a
// 533 KB file with 2 647 scans took 20–36 s. The pipeline counts the scans before decoding and
// refuses files with more than PipelineLimits::max_jpeg_scans. A value used by one thread.
#pragma once

#include <cstdint>
#include <string_view>

#include "common/status.h"

namespace imgorigin::transforms {

class JpegScanCounter {
 public:
  // The next bytes of the stream. Stops counting at EOI or at bytes that are not JPEG markers
  // (then libjpeg refuses the file itself).
  void Feed(std::string_view bytes);
  int64_t scans() const { return scans_; }
  // kTooLarge naming the count when it is over `max_scans`.
  common::Result<void> Check(int max_scans) const;

 private:
  enum class State { kSoi0, kSoi1, kMarker, kCode, kLength0, kLength1, kSkip, kEntropy, kEntropyFf, kDone };
  State state_ = State::kSoi0;
  uint8_t code_ = 0;
  uint32_t remaining_ = 0;
  int64_t scans_ = 0;
};

}  // namespace imgorigin::transforms
