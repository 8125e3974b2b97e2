#include "re_dms/stream_source.h"

#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace re_dms {
namespace {

class FdStreamSource final : public StreamSource {
 public:
  FdStreamSource(int fd, std::string name, size_t chunk_bytes, absl::Duration idle_wait)
      : fd_(fd),
        name_(std::move(name)),
        chunk_bytes_(chunk_bytes),
        idle_wait_(idle_wait),
        // Not zero-filled: a pipe delivers 64 KiB at a time, and clearing a
        // whole chunk for each read would cost more than the read.
        buffer_(new char[chunk_bytes]) {}

  absl::StatusOr<bool> Read(std::string* chunk) override {
    // pg_recvlogical writes each message on its own; a reader that wakes for
    // every one spends more time switching than parsing. After a short read,
    // let the pipe fill for a moment (at most kCoalesce of added latency).
    if (last_read_was_short_) absl::SleepFor(kCoalesce);
    last_read_was_short_ = false;
    pollfd ready{fd_, POLLIN, 0};
    const int timeout_ms = static_cast<int>(absl::ToInt64Milliseconds(idle_wait_));
    const int polled = poll(&ready, 1, timeout_ms);
    if (polled < 0 && errno != EINTR) return Failure("waiting for");
    if (polled <= 0) {  // Nothing yet, or a signal: let the caller look around.
      chunk->clear();
      return true;
    }
    // POLLHUP with data still buffered reads the data first; read() then
    // returns 0 at the end.
    for (;;) {
      const ssize_t got = read(fd_, buffer_.get(), chunk_bytes_);
      if (got > 0) {
        chunk->assign(buffer_.get(), static_cast<size_t>(got));
        bytes_ += static_cast<uint64_t>(got);
        last_read_was_short_ = static_cast<size_t>(got) < kShortRead;
        return true;
      }
      if (got == 0) {
        chunk->clear();
        return false;
      }
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        chunk->clear();
        return true;
      }
      return Failure("reading");
    }
  }

 private:
  absl::Status Failure(absl::string_view what) const {
    return absl::ErrnoToStatus(errno, absl::StrCat(what, " ", name_, " after ", bytes_, " bytes"));
  }

  const int fd_;
  const std::string name_;
  const size_t chunk_bytes_;
  const absl::Duration idle_wait_;
  static constexpr size_t kShortRead = 16 << 10;
  static constexpr absl::Duration kCoalesce = absl::Milliseconds(1);

  const std::unique_ptr<char[]> buffer_;
  uint64_t bytes_ = 0;
  bool last_read_was_short_ = false;
};

class StringStreamSource final : public StreamSource {
 public:
  StringStreamSource(std::string data, size_t chunk_bytes)
      : data_(std::move(data)), chunk_bytes_(std::max<size_t>(chunk_bytes, 1)) {}

  absl::StatusOr<bool> Read(std::string* chunk) override {
    if (offset_ == data_.size()) return false;
    const size_t size = std::min(chunk_bytes_, data_.size() - offset_);
    chunk->assign(data_, offset_, size);
    offset_ += size;
    return true;
  }

 private:
  const std::string data_;
  const size_t chunk_bytes_;
  size_t offset_ = 0;
};

}  // namespace

std::unique_ptr<StreamSource> MakeFdStreamSource(int fd, std::string name, size_t chunk_bytes,
                                                 absl::Duration idle_wait) {
  return std::make_unique<FdStreamSource>(fd, std::move(name), std::max<size_t>(chunk_bytes, 1),
                                          idle_wait);
}

std::unique_ptr<StreamSource> MakeStringStreamSource(std::string data, size_t chunk_bytes) {
  return std::make_unique<StringStreamSource>(std::move(data), chunk_bytes);
}

}  // namespace re_dms
