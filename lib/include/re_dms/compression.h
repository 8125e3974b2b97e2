// Streaming compression for staged files: zstd (the default), gzip, or none.
//
// Both directions push bytes through a caller-supplied sink in bounded chunks,
// so neither side ever holds a whole file: CsvWriter compresses into its part
// files, and the loader decompresses objects from S3 straight into
// PostgreSQL's COPY.
//
// The formats are the ones Redshift's COPY reads with its ZSTD and GZIP
// options: a zstd frame (RFC 8878) and a gzip member (RFC 1952). A decompressor
// accepts several frames/members back to back, as both formats allow.

#ifndef RE_DMS_COMPRESSION_H_
#define RE_DMS_COMPRESSION_H_

#include <memory>
#include <string>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "re_dms/staged_batch.h"

namespace re_dms {

// Receives output. An error it returns stops the stream and is passed back to
// the caller of Write/Finish unchanged.
using ByteSink = absl::FunctionRef<absl::Status(absl::string_view)>;

// "zstd", "gzip" or "none".
absl::string_view CompressionName(Compression compression);
// The inverse of CompressionName; InvalidArgument for any other name.
absl::StatusOr<Compression> ParseCompression(absl::string_view name);
// What staged file names end with: ".zst", ".gz" or "".
absl::string_view CompressionSuffix(Compression compression);

class Compressor {
 public:
  // `level` is zstd's (1 to ZSTD_maxCLevel(), or a negative --fast level;
  // 1 is the fastest that still compresses well) or gzip's (1 to 9); it is
  // ignored for kNone.
  // InvalidArgument when out of range.
  static absl::StatusOr<std::unique_ptr<Compressor>> Create(Compression compression, int level);

  virtual ~Compressor() = default;

  // Compresses `input`, passing whatever output is ready to `sink`. Large
  // inputs are compressed best in large pieces (a megabyte or more).
  virtual absl::Status Write(absl::string_view input, ByteSink sink) = 0;
  // Ends the stream and passes the rest of it to `sink`. The next Write begins
  // a new, independent stream, so one Compressor serves many files.
  virtual absl::Status Finish(ByteSink sink) = 0;
};

class Decompressor {
 public:
  static absl::StatusOr<std::unique_ptr<Decompressor>> Create(Compression compression);

  virtual ~Decompressor() = default;

  // Decompresses the next bytes of the stream, passing the output to `sink`
  // in chunks of at most 256 KiB. Corrupt input is DataLoss naming the
  // compressed byte offset.
  virtual absl::Status Write(absl::string_view input, ByteSink sink) = 0;
  // Confirms the stream ended cleanly after at least one complete frame; a
  // truncated or empty stream is DataLoss.
  virtual absl::Status Finish() = 0;
};

// Decompresses the file at `path` into `sink`, reading it in 1 MiB pieces.
// Errors name the path.
absl::Status DecompressFile(const std::string& path, Compression compression, ByteSink sink);

}  // namespace re_dms

#endif  // RE_DMS_COMPRESSION_H_
