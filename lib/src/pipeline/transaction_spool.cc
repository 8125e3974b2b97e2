#include "lib/src/pipeline/transaction_spool.h"

#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>

#include "absl/strings/str_cat.h"

namespace re_dms {
namespace {

absl::Status FileError(absl::string_view what, const std::string& directory) {
  return absl::InternalError(
      absl::StrCat("transaction spool in ", directory, ": ", what, ": ", std::strerror(errno)));
}

}  // namespace

TransactionSpool::TransactionSpool(std::string directory, uint64_t memory_limit)
    : directory_(std::move(directory)), memory_limit_(memory_limit) {}

TransactionSpool::~TransactionSpool() { Clear(); }

void TransactionSpool::Begin(uint64_t offset, uint64_t line) {
  Clear();
  active_ = true;
  offset_ = offset;
  line_ = line;
}

absl::Status TransactionSpool::Append(absl::string_view text) {
  memory_.append(text.data(), text.size());
  bytes_ += text.size();
  if (memory_.size() > memory_limit_) return Spill();
  return absl::OkStatus();
}

absl::Status TransactionSpool::Spill() {
  if (file_ == nullptr) {
    std::string path = absl::StrCat(directory_, "/transaction.XXXXXX");
    const int fd = mkstemp(path.data());
    if (fd < 0) return FileError("creating a spill file", directory_);
    unlink(path.c_str());  // Only this process needs it, and only until Clear().
    file_ = fdopen(fd, "w+b");
    if (file_ == nullptr) {
      close(fd);
      return FileError("opening the spill file", directory_);
    }
  }
  if (std::fwrite(memory_.data(), 1, memory_.size(), file_) != memory_.size()) {
    return FileError("writing the spill file", directory_);
  }
  memory_.clear();
  return absl::OkStatus();
}

absl::Status TransactionSpool::Replay(const std::function<absl::Status(absl::string_view)>& consume,
                                      size_t chunk_bytes) {
  if (file_ != nullptr) {
    if (std::fflush(file_) != 0 || std::fseek(file_, 0, SEEK_SET) != 0) {
      return FileError("rewinding the spill file", directory_);
    }
    std::string chunk(chunk_bytes, '\0');
    for (;;) {
      const size_t got = std::fread(chunk.data(), 1, chunk.size(), file_);
      if (got > 0) {
        absl::Status status = consume(absl::string_view(chunk.data(), got));
        if (!status.ok()) return status;
      }
      if (got < chunk.size()) {
        if (std::ferror(file_)) return FileError("reading the spill file", directory_);
        break;
      }
    }
  }
  for (size_t at = 0; at < memory_.size(); at += chunk_bytes) {
    absl::Status status = consume(absl::string_view(memory_).substr(at, chunk_bytes));
    if (!status.ok()) return status;
  }
  return absl::OkStatus();
}

void TransactionSpool::Clear() {
  if (file_ != nullptr) std::fclose(file_);
  file_ = nullptr;
  memory_.clear();
  if (memory_.capacity() > memory_limit_) memory_.shrink_to_fit();
  bytes_ = 0;
  active_ = false;
}

}  // namespace re_dms
