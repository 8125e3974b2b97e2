// TransactionSpool: the text of the transaction being read, kept apart until
// its COMMIT arrives, so that only committed transactions reach the batcher.
// A stop, an end of input or an error inside a transaction then loses nothing
// that committed, and a transaction that commits after --endpos, or that a
// reconnect resends, is dropped whole.
//
// Memory stays bounded: past `memory_limit` bytes the text goes to a file in
// `directory` (unlinked at once, so a crash leaves nothing behind).

#ifndef RE_DMS_LIB_SRC_PIPELINE_TRANSACTION_SPOOL_H_
#define RE_DMS_LIB_SRC_PIPELINE_TRANSACTION_SPOOL_H_

#include <cstdint>
#include <cstdio>
#include <functional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace re_dms {

class TransactionSpool {
 public:
  TransactionSpool(std::string directory, uint64_t memory_limit);
  ~TransactionSpool();

  TransactionSpool(const TransactionSpool&) = delete;
  TransactionSpool& operator=(const TransactionSpool&) = delete;

  // Starts a transaction whose first record is at stream `offset`, `line`.
  void Begin(uint64_t offset, uint64_t line);
  // Appends the text of the transaction's next record.
  absl::Status Append(absl::string_view text);
  // Calls `consume` with the transaction's text in order, in chunks of at
  // most about `chunk_bytes`.
  absl::Status Replay(const std::function<absl::Status(absl::string_view)>& consume,
                      size_t chunk_bytes = size_t{1} << 20);
  // Forgets the transaction (committed and replayed, or dropped).
  void Clear();

  bool active() const { return active_; }
  uint64_t offset() const { return offset_; }
  uint64_t line() const { return line_; }
  uint64_t bytes() const { return bytes_; }
  // Bytes held in memory (at most about memory_limit).
  uint64_t memory_bytes() const { return memory_.size(); }

 private:
  absl::Status Spill();

  const std::string directory_;
  const uint64_t memory_limit_;
  bool active_ = false;
  uint64_t offset_ = 0;
  uint64_t line_ = 0;
  uint64_t bytes_ = 0;
  std::string memory_;         // The text not yet in the file.
  std::FILE* file_ = nullptr;  // The text before memory_, once spilled.
};

}  // namespace re_dms

#endif  // RE_DMS_LIB_SRC_PIPELINE_TRANSACTION_SPOOL_H_
