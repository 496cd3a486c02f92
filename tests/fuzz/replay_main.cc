// Replays a fuzz target's corpus without libFuzzer, so the corpora run as ordinary CTest tests
// with the project compiler; optionally mutates it (a seeded, coverage-blind "poor man's fuzzer")
// for builds where libFuzzer is not available.
//
//   <target>_replay [options] <dir-or-file>…
//     --mutate N        after replaying, run N mutants of every corpus input (default 0)
//     --seed S          mutation seed (default 1); same seed + corpus = same mutants
//     --max-len L       mutants are cut to L bytes (default 65536)
//     --max-time T      stop mutating after T seconds (default: no limit)
//     --timeout T       abort when one input runs longer than T seconds (default 0 = off)
//     --artifact-dir D  where crashing inputs are written (default ".")
//
// On a crash, a sanitizer report, an invariant failure (abort) or a per-input timeout, the input
// being run is written to <artifact-dir>/crash-<hash> (or timeout-<hash>) before the process dies,
// and its name is printed, so it can be minimised and added to the corpus.
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

// The sanitizer runtime (only linked in sanitizer builds) calls back before it exits on a report.
#if defined(__SANITIZE_ADDRESS__)
#define IMGORIGIN_HAVE_SANITIZER_API 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define IMGORIGIN_HAVE_SANITIZER_API 1
#endif
#endif
#ifdef IMGORIGIN_HAVE_SANITIZER_API
#include <sanitizer/common_interface_defs.h>
#endif

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

// The input being run, for the fatal-signal and sanitizer-death handlers.
const uint8_t* g_current = nullptr;
size_t g_current_size = 0;
char g_artifact_dir[4096] = ".";

// FNV-1a, for artifact names.
uint64_t Hash(const uint8_t* data, size_t size) {
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < size; ++i) h = (h ^ data[i]) * 1099511628211ull;
  return h;
}

// Async-signal-safe: only open/write/close and hand-rolled formatting.
void WriteArtifact(const char* prefix) {
  if (g_current == nullptr) return;
  char path[4200];
  size_t n = 0;
  auto put = [&](const char* s) {
    while (*s != '\0' && n + 1 < sizeof(path)) path[n++] = *s++;
  };
  put(g_artifact_dir);
  put("/");
  put(prefix);
  put("-");
  uint64_t h = Hash(g_current, g_current_size);
  for (int i = 15; i >= 0; --i) {
    if (n + 1 < sizeof(path)) path[n++] = "0123456789abcdef"[(h >> (i * 4)) & 0xF];
  }
  path[n] = '\0';
  const int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) return;
  size_t done = 0;
  while (done < g_current_size) {
    const ssize_t w = write(fd, g_current + done, g_current_size - done);
    if (w <= 0) break;
    done += static_cast<size_t>(w);
  }
  close(fd);
  const char head[] = "\n==replay== input written to ";
  (void)!write(2, head, sizeof(head) - 1);
  (void)!write(2, path, n);
  (void)!write(2, "\n", 1);
  g_current = nullptr;  // once
}

void OnFatalSignal(int sig) {
  WriteArtifact(sig == SIGALRM ? "timeout" : "crash");
  if (sig == SIGALRM) {
    const char msg[] = "==replay== input timed out\n";
    (void)!write(2, msg, sizeof(msg) - 1);
    _exit(70);
  }
  signal(sig, SIG_DFL);
  raise(sig);
}

void OnSanitizerDeath() { WriteArtifact("crash"); }

void InstallHandlers() {
  for (int sig : {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGALRM}) signal(sig, OnFatalSignal);
#ifdef IMGORIGIN_HAVE_SANITIZER_API
  __sanitizer_set_death_callback(OnSanitizerDeath);
#else
  (void)&OnSanitizerDeath;
#endif
}

void RunOne(const std::string& input, unsigned timeout_s) {
  // libFuzzer hands the target a buffer of exactly `size` bytes; a copy gives ASan the same view.
  std::vector<uint8_t> copy(input.begin(), input.end());
  g_current = copy.data();
  g_current_size = copy.size();
  if (timeout_s > 0) alarm(timeout_s);
  LLVMFuzzerTestOneInput(copy.empty() ? nullptr : copy.data(), copy.size());
  if (timeout_s > 0) alarm(0);
  g_current = nullptr;
}

std::string ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// --- Mutation (libFuzzer-like operators, no coverage feedback) ---

class Mutator {
 public:
  Mutator(uint64_t seed, size_t max_len, const std::vector<std::string>* corpus)
      : rng_(seed), max_len_(max_len), corpus_(corpus) {}

  std::string Mutate(std::string s) {
    const int rounds = 1 + static_cast<int>(Below(8));
    for (int i = 0; i < rounds; ++i) MutateOnce(s);
    if (s.size() > max_len_) s.resize(max_len_);
    return s;
  }

 private:
  size_t Below(size_t n) { return n == 0 ? 0 : static_cast<size_t>(rng_() % n); }

  char RandomByte() {
    // Biased towards bytes that matter to text grammars and image headers.
    static constexpr char kInteresting[] = {'\0', '\xff', '\x7f', '\x80', '/', ':', '%', '.',
                                            '@',  '=',    '-',    '_',    '0', '9', ' ', '\n'};
    if (Below(3) == 0) return kInteresting[Below(sizeof kInteresting)];
    return static_cast<char>(rng_() & 0xFF);
  }

  void MutateOnce(std::string& s) {
    switch (Below(11)) {
      case 0:  // flip a bit
        if (!s.empty()) s[Below(s.size())] ^= static_cast<char>(1u << Below(8));
        break;
      case 1:  // set a byte
        if (!s.empty()) s[Below(s.size())] = RandomByte();
        break;
      case 2: {  // insert bytes
        const size_t n = 1 + Below(Below(4) == 0 ? 64 : 4);
        s.insert(Below(s.size() + 1), std::string(n, RandomByte()));
        break;
      }
      case 3:  // erase a range
        if (!s.empty()) {
          const size_t at = Below(s.size());
          s.erase(at, 1 + Below(std::min<size_t>(s.size() - at, 32)));
        }
        break;
      case 4:  // truncate
        if (!s.empty()) s.resize(Below(s.size()));
        break;
      case 5:  // duplicate a range in place
        if (!s.empty()) {
          const size_t at = Below(s.size());
          const std::string part = s.substr(at, 1 + Below(std::min<size_t>(s.size() - at, 64)));
          s.insert(Below(s.size() + 1), part);
        }
        break;
      case 6:  // copy a range over another
        if (s.size() > 1) {
          const size_t from = Below(s.size()), to = Below(s.size());
          const size_t n = 1 + Below(std::min(s.size() - from, s.size() - to));
          std::memmove(s.data() + to, s.data() + from, n);
        }
        break;
      case 7:  // interesting integer, little or big endian, 1/2/4 bytes
        if (!s.empty()) {
          static constexpr uint32_t kValues[] = {0,      1,      0x7f,       0x80,       0xff,
                                                 0x100,  0x7fff, 0x8000,     0xffff,     0x10000,
                                                 30000,  65535,  0x7fffffff, 0x80000000, 0xffffffff};
          const uint32_t v = kValues[Below(std::size(kValues))];
          const size_t width = size_t{1} << Below(3);
          const size_t at = Below(s.size());
          const bool big = Below(2) == 0;
          for (size_t i = 0; i < width && at + i < s.size(); ++i) {
            const size_t shift = 8 * (big ? width - 1 - i : i);
            s[at + i] = static_cast<char>((v >> shift) & 0xFF);
          }
        }
        break;
      case 8:  // ASCII number edit (URL grammars): replace a digit run with another number
        if (!s.empty()) {
          static constexpr const char* kNumbers[] = {"0",     "-1",   "1e308", "99999999999999999999",
                                                     "2147483648", "0.5", "-0", "nan", "inf", "8193",
                                                     "1.0000000001", ""};
          const size_t at = Below(s.size());
          size_t end = at;
          while (end < s.size() && s[end] >= '0' && s[end] <= '9') ++end;
          s.replace(at, end - at, kNumbers[Below(std::size(kNumbers))]);
        }
        break;
      case 9:  // splice: a piece of another corpus input
        if (corpus_ != nullptr && !corpus_->empty()) {
          const std::string& other = (*corpus_)[Below(corpus_->size())];
          if (!other.empty()) {
            const size_t from = Below(other.size());
            const size_t n = 1 + Below(std::min<size_t>(other.size() - from, 128));
            s.insert(Below(s.size() + 1), other, from, n);
          }
        }
        break;
      default:  // swap two bytes
        if (s.size() > 1) std::swap(s[Below(s.size())], s[Below(s.size())]);
        break;
    }
  }

  std::mt19937_64 rng_;
  size_t max_len_;
  const std::vector<std::string>* corpus_;
};

[[noreturn]] void Usage(const char* argv0) {
  std::fprintf(stderr,
               "usage: %s [--mutate N] [--seed S] [--max-len L] [--max-time T] [--timeout T] "
               "[--artifact-dir D] <dir-or-file>...\n",
               argv0);
  std::exit(2);
}

}  // namespace

int main(int argc, char** argv) {
  // Progress lines must survive an abort (sanitizer report, leak check at exit).
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  uint64_t mutations = 0, seed = 1;
  size_t max_len = 65536;
  double max_time = 0;
  unsigned timeout_s = 0;
  std::vector<std::filesystem::path> inputs;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) Usage(argv[0]);
      return argv[++i];
    };
    if (arg == "--mutate") {
      mutations = std::stoull(value());
    } else if (arg == "--seed") {
      seed = std::stoull(value());
    } else if (arg == "--max-len") {
      max_len = std::stoull(value());
    } else if (arg == "--max-time") {
      max_time = std::stod(value());
    } else if (arg == "--timeout") {
      timeout_s = static_cast<unsigned>(std::stoul(value()));
    } else if (arg == "--artifact-dir") {
      const std::string dir = value();
      if (dir.size() >= sizeof g_artifact_dir) Usage(argv[0]);
      std::strcpy(g_artifact_dir, dir.c_str());
    } else if (arg.starts_with("--")) {
      Usage(argv[0]);
    } else {
      inputs.emplace_back(arg);
    }
  }
  if (inputs.empty()) Usage(argv[0]);

  // Sorted, so a replay (and a seeded mutation run) always visits files in the same order.
  std::vector<std::filesystem::path> files;
  for (const auto& input : inputs) {
    if (std::filesystem::is_directory(input)) {
      for (const auto& entry : std::filesystem::directory_iterator(input)) {
        if (entry.is_regular_file()) files.push_back(entry.path());
      }
    } else if (std::filesystem::is_regular_file(input)) {
      files.push_back(input);
    } else {
      std::fprintf(stderr, "%s: no such file or directory\n", input.c_str());
      return 2;
    }
  }
  std::sort(files.begin(), files.end());
  if (files.empty()) {
    std::fprintf(stderr, "no corpus inputs found\n");
    return 2;
  }

  InstallHandlers();
  std::vector<std::string> corpus;
  corpus.reserve(files.size());
  for (const auto& file : files) {
    corpus.push_back(ReadFile(file));
    RunOne(corpus.back(), timeout_s);
  }
  std::printf("replayed %zu inputs\n", files.size());

  if (mutations > 0) {
    const auto start = std::chrono::steady_clock::now();
    Mutator mutator(seed, max_len, &corpus);
    uint64_t runs = 0;
    bool out_of_time = false;
    for (uint64_t round = 0; round < mutations && !out_of_time; ++round) {
      for (const std::string& original : corpus) {
        RunOne(mutator.Mutate(original), timeout_s);
        ++runs;
        if (max_time > 0 && std::chrono::duration<double>(std::chrono::steady_clock::now() -
                                                          start).count() >= max_time) {
          out_of_time = true;
          break;
        }
      }
      if ((round + 1) % 100 == 0) {
        std::printf("round %llu: %llu mutants\n", static_cast<unsigned long long>(round + 1),
                    static_cast<unsigned long long>(runs));
        std::fflush(stdout);
      }
    }
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::printf("ran %llu mutants (seed %llu) in %.1f s, %.0f/s\n",
                static_cast<unsigned long long>(runs), static_cast<unsigned long long>(seed),
                seconds, seconds > 0 ? static_cast<double>(runs) / seconds : 0.0);
  }
  return 0;
}
