// StreamSource: where the Pipeline reads the decoding stream's bytes from --
// standard input fed by `pg_recvlogical -f -`, or a string in tests.

#ifndef RE_DMS_STREAM_SOURCE_H_
#define RE_DMS_STREAM_SOURCE_H_

#include <cstddef>
#include <memory>
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
