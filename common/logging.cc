#include "common/logging.h"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cerrno>
#include <utility>

#include "common/thread_name.h"

namespace imgorigin::common {
namespace {

// %* in a JSON pattern: the message, escaped as a JSON string's inside.
class JsonMessageFlag : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    std::string escaped;
    AppendJsonEscaped(escaped, std::string_view(msg.payload.data(), msg.payload.size()));
    dest.append(escaped.data(), escaped.data() + escaped.size());
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<JsonMessageFlag>();
  }
};

std::atomic<uint64_t> next_writer_id{1};

}  // namespace

Result<LogFormat> ParseLogFormat(std::string_view text) {
  if (text == "text") return LogFormat::kText;
  if (text == "json") return LogFormat::kJson;
  return Fail(ErrorCode::kInvalidArgument,
              "expected \"text\" or \"json\", got \"" + std::string(text) + "\"");
}

Result<spdlog::level::level_enum> ParseLogLevel(std::string_view text) {
  static constexpr std::pair<std::string_view, spdlog::level::level_enum> kLevels[] = {
      {"trace", spdlog::level::trace}, {"debug", spdlog::level::debug},
      {"info", spdlog::level::info},   {"warn", spdlog::level::warn},
      {"error", spdlog::level::err},   {"critical", spdlog::level::critical},
      {"off", spdlog::level::off},
  };
  for (const auto& [name, level] : kLevels) {
    if (text == name) return level;
  }
  return Fail(ErrorCode::kInvalidArgument,
              "expected trace, debug, info, warn, error, critical or off, got \"" +
                  std::string(text) + "\"");
}

void SetUpLogging(spdlog::level::level_enum level, LogFormat format) {
  // Replaces the logger of that name, so every line says "imgorigin" whoever set it up first.
  spdlog::drop("imgorigin");
  auto logger = spdlog::stderr_color_mt("imgorigin");
  if (format == LogFormat::kJson) {
    auto formatter = std::make_unique<spdlog::pattern_formatter>(spdlog::pattern_time_type::utc,
                                                                 std::string("\n"));
    formatter->add_flag<JsonMessageFlag>('*').set_pattern(
        R"({"time":"%Y-%m-%dT%H:%M:%S.%eZ","level":"%l","logger":"imgorigin","msg":"%*"})");
    logger->set_formatter(std::move(formatter));
  }
  logger->set_level(level);
  spdlog::set_default_logger(std::move(logger));
}

void AppendJsonEscaped(std::string& out, std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  for (char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (u < 0x20 || u == 0x7f) {
      out += "\\u00";
      out += kHex[u >> 4];
      out += kHex[u & 15];
    } else {
      out += c;
    }
  }
}

LineWriter::LineWriter(Options options)
    : options_(options),
      id_(next_writer_id.fetch_add(1)),
      thread_(NamedThread("log-writer", [this] { Run(); })) {}

LineWriter::~LineWriter() {
  {
    std::lock_guard lock(wake_mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  thread_.join();
  Flush();
}

LineWriter::Buffer& LineWriter::ThreadBuffer() {
  // Writers are told apart by id, never by address: a stale entry of a destroyed writer never
  // matches a new one.
  thread_local std::vector<std::pair<uint64_t, Buffer*>> mine;
  for (const auto& [id, buffer] : mine) {
    if (id == id_) return *buffer;
  }
  std::lock_guard lock(buffers_mutex_);
  auto& buffer = buffers_.emplace_back(std::make_unique<Buffer>());
  buffer->lines.reserve(64 << 10);
  mine.emplace_back(id_, buffer.get());
  return *buffer;
}

void LineWriter::Write(std::string_view line) {
  Buffer& buffer = ThreadBuffer();
  std::lock_guard lock(buffer.mutex);
  if (buffer.lines.size() + line.size() > options_.max_buffered) {
    dropped_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  buffer.lines.append(line);
}

void LineWriter::Flush() {
  std::lock_guard flushing(flush_mutex_);
  std::vector<Buffer*> buffers;
  {
    std::lock_guard lock(buffers_mutex_);
    for (auto& buffer : buffers_) buffers.push_back(buffer.get());
  }
  // Swapped out under the buffer's lock and written without it, so writers never wait on the
  // descriptor. The spare keeps its capacity: no allocation once both have grown.
  thread_local std::string spare;
  for (Buffer* buffer : buffers) {
    {
      std::lock_guard lock(buffer->mutex);
      if (buffer->lines.empty()) continue;
      spare.swap(buffer->lines);
    }
    WriteAll(spare);
    spare.clear();
  }
}

void LineWriter::WriteAll(std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = ::write(options_.fd, bytes.data(), bytes.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // a closed or broken descriptor: the lines are lost, serving goes on
    bytes.remove_prefix(static_cast<size_t>(n));
  }
}

void LineWriter::Run() {
  std::unique_lock lock(wake_mutex_);
  while (!stopping_) {
    wake_.wait_for(lock, options_.interval, [this] { return stopping_; });
    lock.unlock();
    Flush();
    lock.lock();
  }
}

}  // namespace imgorigin::common
