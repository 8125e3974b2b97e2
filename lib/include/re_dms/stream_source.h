// StreamSource: where the Pipeline reads the decoding stream's bytes from --
// standard input fed by `pg_recvlogical -f -`, or a string in tests.

#ifndef RE_DMS_STREAM_SOURCE_H_
#define RE_DMS_STREAM_SOURCE_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace re_dms {

class StreamSource {
 public:
  virtual ~StreamSource() = default;

  // Replaces *chunk with the next bytes of the stream. Returns true with an
  // empty chunk when nothing arrived for a while, so that the reader can flush
  // expired batches and notice stop requests while the source is idle; false
  // at the end of the stream.
  virtual absl::StatusOr<bool> Read(std::string* chunk) = 0;

  // Sources that know WAL positions (a replication connection) override the
  // rest; a pipe knows none. Such a source returns whole records from Read(),
  // never part of one.

  // The end LSN of the commit whose kCommit record starts at stream byte
  // `offset` (Record::offset); nullopt when the source does not know LSNs.
  // Called by the reading thread once per commit, in stream order.
  virtual std::optional<uint64_t> CommitLsn(uint64_t offset) {
    (void)offset;
    return std::nullopt;
  }

  // Every commit before this WAL position has been returned by Read() (the
  // server's WAL end once nothing received is unread); nullopt when unknown.
  // A reader with nothing pending may acknowledge it: a quiet database on a
  // busy cluster then does not make its slot retain WAL.
  virtual std::optional<uint64_t> ReadThrough() { return std::nullopt; }

  // How many times the stream restarted (a reconnect). After a restart the
  // source resends from its last acknowledged position: a transaction left
  // open by the restart comes again from its BEGIN, and commits already
  // returned may come again. Readers drop the open transaction and skip
  // commits they have seen (by LSN).
  virtual uint64_t restarts() const { return 0; }

  // Everything up to and including `lsn` is applied to the target: a source
  // that can acknowledges it to the server (never more). Called with
  // increasing LSNs, from any thread.
  virtual void Acknowledge(uint64_t lsn) { (void)lsn; }
};

// Reads file descriptor `fd` (not owned, not closed) in chunks of up to
// `chunk_bytes`, waiting at most `idle_wait` for data before returning an
// empty chunk. After a short read (under 16 KiB) it pauses 1 ms before the
// next one, so that a writer sending message by message (pg_recvlogical) is
// read in larger pieces instead of one wake-up per message. Errors name
// `name` (e.g. "standard input").
std::unique_ptr<StreamSource> MakeFdStreamSource(
    int fd, std::string name, size_t chunk_bytes = size_t{1} << 20,
    absl::Duration idle_wait = absl::Milliseconds(100));

// Returns `data` in chunks of `chunk_bytes`, then the end of the stream.
std::unique_ptr<StreamSource> MakeStringStreamSource(std::string data,
                                                     size_t chunk_bytes = size_t{1} << 20);

}  // namespace re_dms

#endif  // RE_DMS_STREAM_SOURCE_H_
