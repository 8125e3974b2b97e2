// Splits a fuzzer's input into the choices a target makes and the bytes it
// parses (a tiny FuzzedDataProvider: clang's is not on gcc's include path,
// and the targets must build with gcc too).

#ifndef RE_DMS_TESTS_FUZZ_FUZZ_INPUT_H_
#define RE_DMS_TESTS_FUZZ_FUZZ_INPUT_H_

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/strings/string_view.h"

namespace re_dms::fuzz {

class FuzzInput {
 public:
  FuzzInput(const uint8_t* data, size_t size) : rest_(reinterpret_cast<const char*>(data), size) {}

  // A number in [0, n) taken from the next byte; 0 once the input is spent.
  size_t Below(size_t n) {
    if (rest_.empty() || n <= 1) return 0;
    size_t value = static_cast<unsigned char>(rest_[0]) % n;
    rest_.remove_prefix(1);
    return value;
  }

  bool Bool() { return Below(2) == 1; }

  // Up to `max` bytes, the length chosen by the next byte.
  std::string Bytes(size_t max) {
    size_t n = Below(max + 1);
    if (n > rest_.size()) n = rest_.size();
    std::string out(rest_.substr(0, n));
    rest_.remove_prefix(n);
    return out;
  }

  absl::string_view Rest() const { return rest_; }
  bool empty() const { return rest_.empty(); }

 private:
  absl::string_view rest_;
};

// Reports a broken property and aborts, which libFuzzer (and replay_main's
// test) report as a crash with the input that caused it.
[[noreturn]] inline void Fail(const std::string& what) {
  std::fprintf(stderr, "property violated: %s\n", what.c_str());
  std::abort();
}

}  // namespace re_dms::fuzz

#endif  // RE_DMS_TESTS_FUZZ_FUZZ_INPUT_H_
