#include "ingest/redis_job_queue.h"

#include <algorithm>
#include <charconv>
#include <map>
#include <optional>
#include <span>
#include <utility>

namespace imgorigin::ingest {
namespace {

using cache::RedisError;
using common::ErrorCode;
using common::Fail;

constexpr char kGroup[] = "workers";
// Leases name no worker (deadlines decide who holds a job), so every process uses one consumer
// name and the group never collects the names of processes long gone.
constexpr char kConsumer[] = "imgorigin";
constexpr int kRedriveBatch = 1000;

// Every script gets KEYS = stream, delayed, leases, dead, seq and ARGV[1] = group,
// ARGV[2] = the job hash prefix; its own arguments follow from ARGV[3]. The job hashes are not
// in KEYS (their names come from the delayed set), but they carry the queue's hash tag, so every
// key a script touches is on one Cluster slot.
constexpr char kPrelude[] = R"lua(
local stream, delayed, leases, dead, seq = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local group, job_prefix = ARGV[1], ARGV[2]
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
-- From the stream's start: jobs added before the group existed are delivered too.
redis.pcall('XGROUP', 'CREATE', stream, group, '0', 'MKSTREAM')
local function deliveries(id)
  local p = redis.call('XPENDING', stream, group, id, id, 1)
  if #p == 0 then return nil end
  return p[1][4]
end
local function fields_of(flat)
  local f = {}
  for i = 1, #flat, 2 do f[flat[i]] = flat[i + 1] end
  return f
end
local function job_fields(job, kind, payload, attempts, err)
  return {'job', job, 'kind', kind, 'payload', payload, 'attempts', attempts, 'error', err}
end
local function finish(id)
  redis.call('XACK', stream, group, id)
  redis.call('XDEL', stream, id)
  redis.call('ZREM', leases, id)
end
-- Ends the delivery ARGV[3] with count ARGV[4] and returns its job's fields (attempts counted
-- up to this delivery), or nil when that delivery is over.
local function take()
  local id = ARGV[3]
  local n = deliveries(id)
  if n ~= tonumber(ARGV[4]) then return nil end
  local entry = redis.call('XRANGE', stream, id, id)
  finish(id)
  if #entry == 0 then return nil end
  local f = fields_of(entry[1][2])
  f.attempts = tonumber(f.attempts) + n
  return f
end
local function put(fields, job, due, now)
  if due > now then
    redis.call('HSET', job_prefix .. job, unpack(fields))
    redis.call('ZADD', delayed, due, job)
  else
    redis.call('XADD', stream, '*', unpack(fields))
  end
end
)lua";

// ARGV: max_jobs, kind, payload, delay_ms. Returns the job id, or -1 when the queue is full.
constexpr char kEnqueue[] = R"lua(
if redis.call('XLEN', stream) + redis.call('ZCARD', delayed) >= tonumber(ARGV[3]) then
  return -1
end
local job = tostring(redis.call('INCR', seq))
local now = now_ms()
put(job_fields(job, ARGV[4], ARGV[5], 0, ''), job, now + tonumber(ARGV[6]), now)
return job
)lua";

// ARGV: consumer, max, visibility_ms. Returns {deliveries, last stream id, ms until something
// hidden comes due or -1}; a delivery is {entry id, fields, delivery count}.
constexpr char kReceive[] = R"lua(
local consumer, max, vis = ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5])
local now = now_ms()
for _, job in ipairs(redis.call('ZRANGEBYSCORE', delayed, '-inf', now, 'LIMIT', 0, 100)) do
  local h = redis.call('HGETALL', job_prefix .. job)
  if #h > 0 then redis.call('XADD', stream, '*', unpack(h)) end
  redis.call('DEL', job_prefix .. job)
  redis.call('ZREM', delayed, job)
end
local out = {}
for _, id in ipairs(redis.call('ZRANGEBYSCORE', leases, '-inf', now, 'LIMIT', 0, max)) do
  local claimed = redis.call('XCLAIM', stream, group, consumer, 0, id)
  if #claimed > 0 and claimed[1] then
    out[#out + 1] = {id, claimed[1][2], deliveries(id)}
  else
    redis.call('ZREM', leases, id)
  end
end
if #out < max then
  local read = redis.call('XREADGROUP', 'GROUP', group, consumer, 'COUNT', max - #out,
                          'STREAMS', stream, '>')
  if read then
    for _, e in ipairs(read[1][2]) do out[#out + 1] = {e[1], e[2], 1} end
  end
end
for _, d in ipairs(out) do redis.call('ZADD', leases, now + vis, d[1]) end
local wake = -1
for _, key in ipairs({delayed, leases}) do
  local first = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
  if #first > 0 then
    local due = math.max(0, tonumber(first[2]) - now)
    if wake < 0 or due < wake then wake = due end
  end
end
local last = redis.call('XREVRANGE', stream, '+', '-', 'COUNT', 1)
return {out, #last > 0 and last[1][1] or '0-0', wake}
)lua";

// ARGV: entry id, delivery count. 1 when acked, 0 when the delivery is over.
constexpr char kAck[] = R"lua(
if deliveries(ARGV[3]) ~= tonumber(ARGV[4]) then return 0 end
finish(ARGV[3])
return 1
)lua";

// ARGV: entry id, delivery count, consumer, visibility_ms.
constexpr char kExtend[] = R"lua(
if deliveries(ARGV[3]) ~= tonumber(ARGV[4]) then return 0 end
redis.call('ZADD', leases, now_ms() + tonumber(ARGV[6]), ARGV[3])
redis.call('XCLAIM', stream, group, ARGV[5], 0, ARGV[3], 'JUSTID')
return 1
)lua";

// ARGV: entry id, delivery count, delay_ms, error.
constexpr char kRetry[] = R"lua(
local f = take()
if not f then return 0 end
local now = now_ms()
put(job_fields(f.job, f.kind, f.payload, f.attempts, ARGV[6]), f.job, now + tonumber(ARGV[5]), now)
return 1
)lua";

// ARGV: entry id, delivery count, error, max_dead.
constexpr char kBury[] = R"lua(
local f = take()
if not f then return 0 end
redis.call('XADD', dead, 'MAXLEN', '~', ARGV[6], '*', 'job', f.job, 'kind', f.kind,
           'payload', f.payload, 'attempts', f.attempts, 'error', ARGV[5], 'buried_ms', now_ms())
return 1
)lua";

// ARGV: '1' to redrive or '0' to purge, then 'upto' and the last id of a batch to take from the
// start, or 'ids' and the ids. Returns how many, or the first id that is not there (a string;
// then nothing changed).
constexpr char kDeadLetters[] = R"lua(
local entries = {}
if ARGV[4] == 'upto' then
  entries = redis.call('XRANGE', dead, '-', ARGV[5], 'COUNT', 1000)
else
  for i = 5, #ARGV do
    local e = redis.call('XRANGE', dead, ARGV[i], ARGV[i])
    if #e == 0 then return ARGV[i] end
    entries[#entries + 1] = e[1]
  end
end
for _, e in ipairs(entries) do
  if ARGV[3] == '1' then
    local f = fields_of(e[2])
    local job = tostring(redis.call('INCR', seq))
    redis.call('XADD', stream, '*', unpack(job_fields(job, f.kind, f.payload, 0, '')))
  end
  redis.call('XDEL', dead, e[1])
end
return #entries
)lua";

constexpr char kPurgeAll[] = R"lua(
local n = redis.call('XLEN', dead)
redis.call('UNLINK', dead)
return n
)lua";

// Returns {ready, delayed, in flight, dead}.
constexpr char kStats[] = R"lua(
local in_flight = redis.call('ZCOUNT', leases, '(' .. now_ms(), '+inf')
return {redis.call('XLEN', stream) - in_flight, redis.call('ZCARD', delayed), in_flight,
        redis.call('XLEN', dead)}
)lua";

// The prelude then the body, made once per script.
const std::string& Script(const char* body) {
  static const std::map<const char*, std::string> scripts = [] {
    std::map<const char*, std::string> all;
    for (const char* b :
         {kEnqueue, kReceive, kAck, kExtend, kRetry, kBury, kDeadLetters, kPurgeAll, kStats}) {
      all[b] = std::string(kPrelude) + b;
    }
    return all;
  }();
  return scripts.at(body);
}

common::Error BadReply(std::string_view what) {
  return RedisError("unexpected reply to " + std::string(what));
}

std::string_view Str(const redisReply& r) { return {r.str, r.len}; }

template <typename Duration>
std::string Ms(Duration d) {
  return std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(d).count());
}

bool IsDigits(std::string_view s) {
  return !s.empty() && s.size() <= 20 &&
         std::ranges::all_of(s, [](char c) { return c >= '0' && c <= '9'; });
}

// A stream entry id: "<ms>-<seq>".
bool IsStreamId(std::string_view id) {
  const size_t dash = id.find('-');
  return dash != id.npos && IsDigits(id.substr(0, dash)) && IsDigits(id.substr(dash + 1));
}

struct Delivery {
  std::string entry;
  std::string count;
};

common::Result<Delivery> ParseHandle(std::string_view handle) {
  const size_t colon = handle.find(':');
  if (colon != handle.npos && IsStreamId(handle.substr(0, colon)) &&
      IsDigits(handle.substr(colon + 1))) {
    return Delivery{std::string(handle.substr(0, colon)), std::string(handle.substr(colon + 1))};
  }
  return Fail(ErrorCode::kInvalidArgument, "malformed job handle");
}

int64_t ToInt(std::string_view s) {
  int64_t value = 0;
  std::from_chars(s.data(), s.data() + s.size(), value);
  return value;
}

// A flat field/value array (a stream entry's body) as a map.
common::Result<std::map<std::string, std::string, std::less<>>> Fields(const redisReply& r) {
  if (r.type != REDIS_REPLY_ARRAY || r.elements % 2 != 0) {
    return std::unexpected(BadReply("a stream entry"));
  }
  std::map<std::string, std::string, std::less<>> out;
  for (size_t i = 0; i + 1 < r.elements; i += 2) {
    out[std::string(Str(*r.element[i]))] = Str(*r.element[i + 1]);
  }
  return out;
}

common::Result<DeadLetter> ParseDeadLetter(const redisReply& entry) {
  if (entry.type != REDIS_REPLY_ARRAY || entry.elements != 2) {
    return std::unexpected(BadReply("XRANGE"));
  }
  auto fields = Fields(*entry.element[1]);
  if (!fields) return std::unexpected(fields.error());
  auto& f = *fields;
  DeadLetter letter;
  letter.id = Str(*entry.element[0]);
  letter.kind = f["kind"];
  letter.payload = std::move(f["payload"]);
  letter.attempts = static_cast<int>(ToInt(f["attempts"]));
  letter.error = f["error"];
  letter.buried_at = JobClock::time_point(std::chrono::milliseconds(ToInt(f["buried_ms"])));
  return letter;
}

}  // namespace

struct RedisJobQueue::Taken {
  std::vector<Job> jobs;
  std::string last_id;  // the stream's last entry when nothing was taken
  std::optional<std::chrono::milliseconds> next_due;  // when something hidden comes due
};

common::Result<void> RedisJobQueue::Config::Validate() const {
  if (auto r =
          cache::RedisClient::Config{
              .url = url, .connect_timeout = connect_timeout, .command_timeout = command_timeout}
              .Validate();
      !r) {
    return r;
  }
  if (auto r = ValidateQueueName(queue); !r) return r;
  if (prefix.find_first_of("{}") != prefix.npos) {
    return Fail(ErrorCode::kInvalidArgument, "the Redis job queue key prefix may not hold { or }");
  }
  if (poll_interval.count() <= 0 || max_jobs <= 0 || max_dead <= 0) {
    return Fail(ErrorCode::kInvalidArgument,
                "the Redis job queue poll interval, max_jobs and max_dead must be positive");
  }
  return {};
}

common::Result<std::unique_ptr<RedisJobQueue>> RedisJobQueue::Create(Config config) {
  if (auto r = config.Validate(); !r) return std::unexpected(r.error());
  auto client = cache::RedisClient::Create({.url = config.url,
                                            .connect_timeout = config.connect_timeout,
                                            .command_timeout = config.command_timeout,
                                            .max_idle_connections = config.max_idle_connections});
  if (!client) return std::unexpected(client.error());
  return std::make_unique<RedisJobQueue>(PassKey{}, std::move(config), *std::move(client));
}

RedisJobQueue::RedisJobQueue(PassKey, Config config, std::unique_ptr<cache::RedisClient> client)
    : config_(std::move(config)),
      client_(std::move(client)),
      stream_(config_.prefix + "{" + config_.queue + "}:stream"),
      delayed_(config_.prefix + "{" + config_.queue + "}:delayed"),
      leases_(config_.prefix + "{" + config_.queue + "}:leases"),
      dead_(config_.prefix + "{" + config_.queue + "}:dead"),
      seq_(config_.prefix + "{" + config_.queue + "}:seq"),
      job_prefix_(config_.prefix + "{" + config_.queue + "}:job:") {}

common::Result<RedisJobQueue::ReplyPtr> RedisJobQueue::Eval(const std::string& script,
                                                            const std::vector<std::string>& args) {
  cache::RedisClient::Command command = {"EVAL",  script, "5",  stream_, delayed_,
                                         leases_, dead_,  seq_, kGroup,  job_prefix_};
  for (const auto& arg : args) command.push_back(arg);
  auto replies = client_->Pipeline({command});
  if (!replies) return std::unexpected(replies.error());
  return std::move((*replies)[0]);
}

common::Result<std::string> RedisJobQueue::Enqueue(const NewJob& job) {
  if (auto r = ValidateNewJob(job); !r) return std::unexpected(r.error());
  auto reply = Eval(Script(kEnqueue),
                    {std::to_string(config_.max_jobs), job.kind, job.payload, Ms(job.delay)});
  if (!reply) return std::unexpected(reply.error());
  const redisReply& r = **reply;
  if (r.type == REDIS_REPLY_INTEGER) {
    return Fail(ErrorCode::kOverloaded, "job queue " + config_.queue + " is full (" +
                                            std::to_string(config_.max_jobs) +
                                            " jobs): retry later");
  }
  if (r.type != REDIS_REPLY_STRING) return std::unexpected(BadReply("enqueue"));
  return std::string(Str(r));
}

common::Result<RedisJobQueue::Taken> RedisJobQueue::TakeDue(int max,
                                                            std::chrono::seconds visibility) {
  auto reply = Eval(Script(kReceive), {kConsumer, std::to_string(max), Ms(visibility)});
  if (!reply) return std::unexpected(reply.error());
  const redisReply& r = **reply;
  if (r.type != REDIS_REPLY_ARRAY || r.elements != 3 || r.element[0]->type != REDIS_REPLY_ARRAY ||
      r.element[1]->type != REDIS_REPLY_STRING || r.element[2]->type != REDIS_REPLY_INTEGER) {
    return std::unexpected(BadReply("receive"));
  }
  Taken taken;
  const redisReply& out = *r.element[0];
  for (size_t i = 0; i < out.elements; ++i) {
    const redisReply& d = *out.element[i];
    if (d.type != REDIS_REPLY_ARRAY || d.elements != 3 ||
        d.element[2]->type != REDIS_REPLY_INTEGER) {
      return std::unexpected(BadReply("receive"));
    }
    auto fields = Fields(*d.element[1]);
    if (!fields) return std::unexpected(fields.error());
    auto& f = *fields;
    const int64_t count = d.element[2]->integer;
    Job job;
    job.id = f["job"];
    job.kind = f["kind"];
    job.payload = std::move(f["payload"]);
    job.attempt = static_cast<int>(ToInt(f["attempts"]) + count);
    job.last_error = f["error"];
    job.handle = std::string(Str(*d.element[0])) + ":" + std::to_string(count);
    taken.jobs.push_back(std::move(job));
  }
  taken.last_id = Str(*r.element[1]);
  if (r.element[2]->integer >= 0) taken.next_due = std::chrono::milliseconds(r.element[2]->integer);
  return taken;
}

common::Result<std::vector<Job>> RedisJobQueue::Receive(int max, std::chrono::milliseconds wait,
                                                        std::chrono::seconds visibility) {
  if (auto r = ValidateReceive(max, wait, visibility); !r) return std::unexpected(r.error());
  using Clock = std::chrono::steady_clock;
  constexpr std::chrono::milliseconds kShortestBlock{10};  // XREAD BLOCK 0 would block forever
  const auto deadline = Clock::now() + wait;
  while (true) {
    auto taken = TakeDue(max, visibility);
    if (!taken) return std::unexpected(taken.error());
    const auto now = Clock::now();
    if (!taken->jobs.empty() || now >= deadline) return std::move(taken->jobs);
    auto block = std::min(config_.poll_interval,
                          std::chrono::ceil<std::chrono::milliseconds>(deadline - now));
    if (taken->next_due) block = std::min(block, *taken->next_due);
    block = std::max(block, kShortestBlock);
    // Whatever it returns, the next look decides: it only says a job may have arrived.
    const std::string block_ms = std::to_string(block.count());
    auto woke = client_->Pipeline(
        {{"XREAD", "BLOCK", block_ms, "COUNT", "1", "STREAMS", stream_, taken->last_id}}, block);
    if (!woke) return std::unexpected(woke.error());
  }
}

common::Result<void> RedisJobQueue::OnDelivery(const std::string& script, const Job& job,
                                               std::vector<std::string> extra) {
  auto delivery = ParseHandle(job.handle);
  if (!delivery) return std::unexpected(delivery.error());
  extra.insert(extra.begin(), {delivery->entry, delivery->count});
  auto reply = Eval(script, extra);
  if (!reply) return std::unexpected(reply.error());
  if ((*reply)->type != REDIS_REPLY_INTEGER) return std::unexpected(BadReply("a job update"));
  if ((*reply)->integer == 0) {
    return Fail(ErrorCode::kConflict,
                "the job's delivery is over (acked, retried, buried or delivered again)");
  }
  return {};
}

common::Result<void> RedisJobQueue::Ack(const Job& job) {
  return OnDelivery(Script(kAck), job, {});
}

common::Result<void> RedisJobQueue::Extend(const Job& job, std::chrono::seconds visibility) {
  if (auto r = ValidateVisibility(visibility); !r) return r;
  return OnDelivery(Script(kExtend), job, {kConsumer, Ms(visibility)});
}

common::Result<void> RedisJobQueue::Retry(const Job& job, std::chrono::milliseconds delay,
                                          std::string_view error) {
  if (auto r = ValidateDelay(delay); !r) return r;
  return OnDelivery(Script(kRetry), job, {Ms(delay), CleanJobError(error)});
}

common::Result<void> RedisJobQueue::Bury(const Job& job, std::string_view error) {
  return OnDelivery(Script(kBury), job, {CleanJobError(error), std::to_string(config_.max_dead)});
}

common::Result<DeadLetterPage> RedisJobQueue::ListDead(std::string_view after, int limit) {
  if (auto r = ValidateDeadLetterPage(limit); !r) return std::unexpected(r.error());
  if (!after.empty() && !IsStreamId(after)) {
    return Fail(ErrorCode::kInvalidArgument, "malformed dead letter cursor");
  }
  const std::string start = after.empty() ? "-" : "(" + std::string(after);
  const std::string count = std::to_string(limit + 1);  // one more says a next page exists
  auto replies = client_->Pipeline({{"XRANGE", dead_, start, "+", "COUNT", count}});
  if (!replies) return std::unexpected(replies.error());
  const redisReply& r = *(*replies)[0];
  if (r.type != REDIS_REPLY_ARRAY) return std::unexpected(BadReply("XRANGE"));
  DeadLetterPage page;
  for (size_t i = 0; i < r.elements; ++i) {
    if (static_cast<int>(page.letters.size()) == limit) {
      page.next_after = page.letters.back().id;
      break;
    }
    auto letter = ParseDeadLetter(*r.element[i]);
    if (!letter) return std::unexpected(letter.error());
    page.letters.push_back(std::move(*letter));
  }
  return page;
}

common::Result<int64_t> RedisJobQueue::ForDeadLetters(const std::vector<std::string>& ids,
                                                      bool redrive) {
  if (auto r = ValidateDeadLetterIds(ids); !r) return std::unexpected(r.error());
  std::vector<std::string> args = {redrive ? "1" : "0", "ids"};
  for (const auto& id : ids) {
    if (!IsStreamId(id)) return Fail(ErrorCode::kInvalidArgument, "malformed dead letter id");
    if (std::ranges::find(args.begin() + 2, args.end(), id) == args.end()) args.push_back(id);
  }
  auto reply = Eval(Script(kDeadLetters), args);
  if (!reply) return std::unexpected(reply.error());
  const redisReply& r = **reply;
  if (r.type == REDIS_REPLY_STRING) {
    return Fail(ErrorCode::kNotFound, "no dead letter with id " + std::string(Str(r)));
  }
  if (r.type != REDIS_REPLY_INTEGER) return std::unexpected(BadReply("dead letters"));
  return r.integer;
}

common::Result<int64_t> RedisJobQueue::RedriveAll() {
  // Up to the last letter there now: letters buried meanwhile stay, and the loop ends.
  auto last = client_->Pipeline({{"XREVRANGE", dead_, "+", "-", "COUNT", "1"}});
  if (!last) return std::unexpected(last.error());
  const redisReply& r = *(*last)[0];
  if (r.type != REDIS_REPLY_ARRAY) return std::unexpected(BadReply("XREVRANGE"));
  if (r.elements == 0) return 0;
  const std::string upto(Str(*r.element[0]->element[0]));
  int64_t total = 0;
  while (true) {
    auto reply = Eval(Script(kDeadLetters), {"1", "upto", upto});
    if (!reply) return std::unexpected(reply.error());
    if ((*reply)->type != REDIS_REPLY_INTEGER) return std::unexpected(BadReply("redrive"));
    total += (*reply)->integer;
    if ((*reply)->integer < kRedriveBatch) return total;
  }
}

common::Result<int64_t> RedisJobQueue::Redrive(const std::vector<std::string>& ids) {
  if (ids.empty()) return RedriveAll();
  return ForDeadLetters(ids, /*redrive=*/true);
}

common::Result<int64_t> RedisJobQueue::Purge(const std::vector<std::string>& ids) {
  if (!ids.empty()) return ForDeadLetters(ids, /*redrive=*/false);
  auto reply = Eval(Script(kPurgeAll), {});
  if (!reply) return std::unexpected(reply.error());
  if ((*reply)->type != REDIS_REPLY_INTEGER) return std::unexpected(BadReply("purge"));
  return (*reply)->integer;
}

common::Result<QueueStats> RedisJobQueue::Stats() {
  auto reply = Eval(Script(kStats), {});
  if (!reply) return std::unexpected(reply.error());
  const redisReply& r = **reply;
  if (r.type != REDIS_REPLY_ARRAY || r.elements != 4 ||
      std::ranges::any_of(std::span(r.element, r.elements),
                          [](const redisReply* e) { return e->type != REDIS_REPLY_INTEGER; })) {
    return std::unexpected(BadReply("stats"));
  }
  return QueueStats{r.element[0]->integer, r.element[1]->integer, r.element[2]->integer,
                    r.element[3]->integer};
}

}  // namespace imgorigin::ingest
