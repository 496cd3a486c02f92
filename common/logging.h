// Logging set-up and the access-log writer.
//
// Application logs go through spdlog's default logger to stderr, as text or one JSON object per
// line (SetUpLogging, called once by main before any other thread starts).
//
// LineWriter takes whole lines from many threads (the event loops) and writes them to a file
// descriptor from its own thread, so a slow reader of stdout (a container's log driver) never
// stalls a loop. Each writing thread appends to a buffer of its own under a lock only the
// flusher ever contends for; the flusher swaps the buffers out every interval and writes them.
// A buffer that reaches its cap drops further lines (counted) until the next flush. Any thread
// may call Write(); the destructor flushes what is left and joins.
#pragma once

#include <spdlog/common.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "common/status.h"

namespace imgorigin::common {

enum class LogFormat { kText, kJson };

// "text" | "json".
Result<LogFormat> ParseLogFormat(std::string_view text);
// "trace" | "debug" | "info" | "warn" | "error" | "critical" | "off".
Result<spdlog::level::level_enum> ParseLogLevel(std::string_view text);

// Replaces spdlog's default logger with one writing to stderr in `format` at `level`.
void SetUpLogging(spdlog::level::level_enum level, LogFormat format);

// Appends `text` to `out` as the inside of a JSON string (quotes, backslashes, control bytes
// escaped; other bytes as they are).
void AppendJsonEscaped(std::string& out, std::string_view text);

class LineWriter {
 public:
  struct Options {
    int fd = 1;
    std::chrono::milliseconds interval{200};
    size_t max_buffered = 4 << 20;  // per writing thread; lines beyond it are dropped
  };
  explicit LineWriter(Options options);
  ~LineWriter();
  LineWriter(const LineWriter&) = delete;
  LineWriter& operator=(const LineWriter&) = delete;

  // `line` must end with '\n'.
  void Write(std::string_view line);
  // Writes everything buffered so far before returning (tests, shutdown).
  void Flush();
  uint64_t dropped() const { return dropped_.load(std::memory_order_relaxed); }

 private:
  struct Buffer {
    std::mutex mutex;
    std::string lines;
  };
  Buffer& ThreadBuffer();
  void Run();
  void WriteAll(std::string_view bytes);

  const Options options_;
  const uint64_t id_;  // tells this writer's thread buffers from another's
  std::mutex buffers_mutex_;
  std::vector<std::unique_ptr<Buffer>> buffers_;
  std::mutex flush_mutex_;  // one flush at a time
  std::mutex wake_mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::atomic<uint64_t> dropped_{0};
  std::thread thread_;
};

}  // namespace imgorigin::common
