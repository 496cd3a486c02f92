// Coalesces identical concurrent work: the first caller for a key becomes the leader and does
// the work; later callers for the same key only register a callback; Complete() hands the one
// result to all of them.
//
// Callbacks run on the thread that calls Complete(), outside the lock; a caller that needs its
// own thread (an event loop) posts from inside its callback. Join/Complete from any thread.
#pragma once

#include <functional>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace imgorigin::cache {

template <typename Value>
class Coalescer {
 public:
  using Callback = std::function<void(const Value&)>;

  // Registers `done` for `key`. Returns true when the caller is the leader and must eventually
  // call Complete(key, …) exactly once.
  bool Join(const std::string& key, Callback done) {
    std::lock_guard lock(mu_);
    auto [it, inserted] = waiters_.try_emplace(key);
    it->second.push_back(std::move(done));
    return inserted;
  }

  // Delivers `value` to every caller joined on `key` and forgets the key.
  void Complete(const std::string& key, const Value& value) {
    std::vector<Callback> callbacks;
    {
      std::lock_guard lock(mu_);
      auto it = waiters_.find(key);
      if (it == waiters_.end()) return;
      callbacks = std::move(it->second);
      waiters_.erase(it);
    }
    for (auto& cb : callbacks) cb(value);
  }

  size_t in_flight() const {
    std::lock_guard lock(mu_);
    return waiters_.size();
  }

 private:
  mutable std::mutex mu_;
  std::unordered_map<std::string, std::vector<Callback>> waiters_;
};

}  // namespace imgorigin::cache
