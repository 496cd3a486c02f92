// Moving an API request's blocking work (record stores, originals stores, libvips checks) off
// the event loop: the work runs on a pool thread, its result is posted back to the loop that owns
// the exchange, and only there is the request answered. Called on the exchange's loop.
#pragma once

#include <functional>
#include <memory>

#include "common/status.h"
#include "common/thread_pool.h"
#include "origin/replies.h"
#include "origin/server.h"

namespace imgorigin::origin {

// Runs `work` on `pool` and hands its result to `reply` on the exchange's loop; a JSON 503 when
// the pool's queue is full.
template <typename T>
void RunOffLoop(common::ThreadPool& pool, const ExchangePtr& exchange,
                std::function<common::Result<T>()> work,
                std::function<void(Exchange&, common::Result<T>&)> reply) {
  const bool queued = pool.TrySubmit([exchange, work = std::move(work), reply = std::move(reply)] {
    auto result = std::make_shared<common::Result<T>>(work());
    exchange->loop().Post([exchange, result, reply] { reply(*exchange, *result); });
  });
  if (!queued) {
    ReplyJsonError(*exchange, {common::ErrorCode::kOverloaded, "server is busy, retry shortly"});
  }
}

}  // namespace imgorigin::origin
