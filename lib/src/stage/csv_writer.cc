#include "re_dms/csv_writer.h"

#include <fcntl.h>
#include <unistd.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "nlohmann/json.hpp"
#include "re_dms/compression.h"

namespace re_dms {
namespace {

// CSV is handed to the compressor in pieces of about this size: big enough
// for zstd to work at full speed, small enough to keep memory flat.
constexpr size_t kCompressChunk = 1 << 20;
// Longest value shown in an error message's row key.
constexpr size_t kMaxKeyValueInError = 64;

absl::Status ErrnoError(absl::string_view action, const std::string& path) {
  int error = errno;
  std::string message = absl::StrCat(action, " ", path, ": ", std::strerror(error));
  if (error == ENOSPC || error == EDQUOT || error == EFBIG) {
    return absl::ResourceExhaustedError(message);
  }
  return absl::InternalError(message);
}

absl::Status WithTable(const absl::Status& status, const Batch& batch) {
  return absl::Status(status.code(),
                      absl::StrCat("staging table ", batch.schema, ".", batch.table, " batch ",
                                   batch.sequence, ": ", status.message()));
}

// A file written under `<path>.tmp` and renamed to `path` once complete, so
// that no reader ever sees a partial file under its final name.
class StagingFile {
 public:
  StagingFile() = default;
  StagingFile(const StagingFile&) = delete;
  StagingFile& operator=(const StagingFile&) = delete;
  ~StagingFile() { Abandon(); }

  absl::Status Open(std::string path) {
    path_ = std::move(path);
    temp_path_ = absl::StrCat(path_, ".tmp");
    size_ = 0;
    fd_ = open(temp_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd_ < 0) return ErrnoError("cannot create", temp_path_);
    return absl::OkStatus();
  }

  absl::Status Append(absl::string_view bytes) {
    while (!bytes.empty()) {
      ssize_t wrote = write(fd_, bytes.data(), bytes.size());
      if (wrote < 0 && errno == EINTR) continue;
      if (wrote < 0) return ErrnoError("writing", temp_path_);
      bytes.remove_prefix(static_cast<size_t>(wrote));
      size_ += static_cast<uint64_t>(wrote);
    }
    return absl::OkStatus();
  }

  // Makes the file durable (with `fsync`) and gives it its final name.
  absl::Status Commit(bool fsync) {
    if (fsync && ::fsync(fd_) != 0) return ErrnoError("syncing", temp_path_);
    int fd = fd_;
    fd_ = -1;
    // close() can report a deferred write error (NFS, quotas): it counts.
    if (close(fd) != 0) return ErrnoError("closing", temp_path_);
    if (rename(temp_path_.c_str(), path_.c_str()) != 0) return ErrnoError("renaming", temp_path_);
    temp_path_.clear();
    return absl::OkStatus();
  }

  // Closes and removes the temporary file, if any.
  void Abandon() {
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
    if (!temp_path_.empty()) unlink(temp_path_.c_str());
    temp_path_.clear();
  }

  const std::string& path() const { return path_; }
  uint64_t size() const { return size_; }

 private:
  std::string path_;
  std::string temp_path_;
  int fd_ = -1;
  uint64_t size_ = 0;
};

absl::Status SyncDirectory(const std::string& directory) {
  int fd = open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return ErrnoError("cannot open directory", directory);
  absl::Status status;
  if (fsync(fd) != 0) status = ErrnoError("syncing directory", directory);
  close(fd);
  return status;
}

// CSV text under construction: a flat buffer written through raw pointers
// and grown only when a value would not fit, so the per-byte work is copying.
class CsvBuffer {
 public:
  size_t size() const { return used_; }
  absl::string_view view() const { return absl::string_view(data_.data(), used_); }
  void Clear() { used_ = 0; }

  // Room for `n` more bytes: where they go. Commit() with their end.
  char* Reserve(size_t n) {
    if (data_.size() - used_ < n) data_.resize(std::max(data_.size() * 2, used_ + n));
    return data_.data() + used_;
  }
  void Commit(const char* end) { used_ = static_cast<size_t>(end - data_.data()); }

 private:
  std::string data_ = std::string(kCompressChunk + (64 << 10), '\0');
  size_t used_ = 0;
};

// Writes `value` at `out` enclosed in quotes, doubling the quotes inside it;
// `out` has room for 2 * value.size() + 2 + 16 bytes. Returns the end, or
// nullptr when the value holds a NUL byte. Works sixteen bytes at a time where
// SSE2 allows: most values hold neither a quote nor a NUL, so they are copies.
char* WriteQuoted(absl::string_view value, char* out) {
  const char* in = value.data();
  const char* end = in + value.size();
  *out++ = kCsvQuote;
#ifdef __SSE2__
  const __m128i quote = _mm_set1_epi8(kCsvQuote);
  const __m128i nul = _mm_setzero_si128();
  while (in < end) {
    size_t available = static_cast<size_t>(end - in);
    __m128i block;
    if (available >= 16) {
      block = _mm_loadu_si128(reinterpret_cast<const __m128i*>(in));
    } else {
      // The tail, copied out so the load never reads past the value; the
      // padding bytes are masked off below.
      alignas(16) char tail[16];
      std::memcpy(tail, in, available);
      block = _mm_load_si128(reinterpret_cast<const __m128i*>(tail));
    }
    unsigned special = static_cast<unsigned>(
        _mm_movemask_epi8(_mm_or_si128(_mm_cmpeq_epi8(block, quote), _mm_cmpeq_epi8(block, nul))));
    size_t plain = available >= 16 ? 16 : available;
    if (available < 16) special &= (1u << available) - 1;
    // Writing all sixteen is safe: the caller leaves sixteen bytes of slack.
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out), block);
    if (special == 0) {
      in += plain;
      out += plain;
      continue;
    }
    size_t before = static_cast<size_t>(__builtin_ctz(special));
    in += before;
    out += before;
    if (*in == '\0') return nullptr;
    *out++ = kCsvQuote;
    *out++ = kCsvQuote;
    ++in;
  }
#else
  for (; in < end; ++in) {
    char c = *in;
    if (c == '\0') return nullptr;
    *out++ = c;
    if (c == kCsvQuote) *out++ = kCsvQuote;
  }
#endif
  *out++ = kCsvQuote;
  return out;
}

// What one data set writes: its role, the columns (as the batch defines them)
// in CSV order, and how an error names a row.
struct DataSet {
  StagedFile::Role role;
  std::string name;  // `delete` or `upsert-<group>`, for file names and errors.
  std::vector<const ColumnDef*> columns;
  const std::vector<std::vector<Datum>>* rows;
  // Positions within `columns` of the table's key, in key order; empty for a
  // table without a key.
  std::vector<size_t> key_positions;
  // Columns that are not the batch's own (the moves' old-key columns).
  std::shared_ptr<std::vector<ColumnDef>> owned_columns = nullptr;
};

class BatchStager {
 public:
  BatchStager(const CsvWriterOptions& options, const ValueFormatter& formatter,
              Compressor& compressor, const Batch& batch)
      : options_(options), formatter_(formatter), compressor_(compressor) {
    base_name_ =
        absl::StrCat(options_.spool_directory, "/", StagedTableName(batch.schema, batch.table), ".",
                     absl::StrFormat("%012d", batch.sequence), ".");
  }

  ~BatchStager() {
    if (!committed_) {
      part_.Abandon();
      for (const std::string& path : written_) unlink(path.c_str());
    }
  }

  absl::Status Write(const DataSet& data_set, StagedFile* staged) {
    staged->role = data_set.role;
    for (const ColumnDef* column : data_set.columns) staged->columns.push_back(column->name);
    std::vector<char> formats;
    for (const ColumnDef* column : data_set.columns) formats.push_back(formatter_.Formats(*column));

    bool part_open = false;
    uint64_t part_csv_bytes = 0;
    buffer_.Clear();
    for (size_t row_index = 0; row_index < data_set.rows->size(); ++row_index) {
      const std::vector<Datum>& row = (*data_set.rows)[row_index];
      if (row.size() != data_set.columns.size()) {
        return absl::InvalidArgumentError(absl::StrCat(data_set.name, " row ", row_index + 1,
                                                       " has ", row.size(), " values for ",
                                                       data_set.columns.size(), " columns"));
      }
      if (!part_open) {
        absl::Status opened =
            part_.Open(absl::StrCat(base_name_, data_set.name, ".part",
                                    absl::StrFormat("%05d", staged->local_paths.size() + 1), ".csv",
                                    CompressionSuffix(options_.compression)));
        if (!opened.ok()) return opened;
        part_open = true;
        part_csv_bytes = 0;
      }
      size_t row_start = buffer_.size();
      absl::Status status = AppendRow(data_set, formats, row, row_index);
      if (!status.ok()) return status;
      part_csv_bytes += buffer_.size() - row_start;
      ++staged->rows;
      if (buffer_.size() >= kCompressChunk) {
        status = CompressBuffer();
        if (!status.ok()) return status;
      }
      if (part_csv_bytes >= options_.max_part_bytes) {
        status = ClosePart(staged);
        if (!status.ok()) return status;
        part_open = false;
      }
    }
    if (part_open) {
      absl::Status status = ClosePart(staged);
      if (!status.ok()) return status;
    }
    // The manifest comes last: once it exists, every part it names is whole.
    if (options_.fsync) {
      absl::Status status = SyncDirectory(options_.spool_directory);
      if (!status.ok()) return status;
    }
    return WriteManifest(data_set, staged);
  }

  // Keeps the files: from here on the StagedBatch owns them.
  absl::Status Commit() {
    if (options_.fsync && !written_.empty()) {
      absl::Status status = SyncDirectory(options_.spool_directory);
      if (!status.ok()) return status;
    }
    committed_ = true;
    return absl::OkStatus();
  }

 private:
  absl::Status AppendRow(const DataSet& data_set, const std::vector<char>& formats,
                         const std::vector<Datum>& row, size_t row_index) {
    const absl::string_view null_marker = options_.dialect.null_marker;
    for (size_t i = 0; i < row.size(); ++i) {
      if (!row[i].has_value()) {
        char* out = buffer_.Reserve(null_marker.size() + 1);
        if (i > 0) *out++ = kCsvDelimiter;
        if (!null_marker.empty()) std::memcpy(out, null_marker.data(), null_marker.size());
        buffer_.Commit(out + null_marker.size());
        continue;
      }
      absl::string_view value = *row[i];
      if (formats[i]) {
        formatted_.clear();
        absl::Status status = formatter_.Format(*data_set.columns[i], value, &formatted_);
        if (!status.ok()) return ValueError(data_set, row, row_index, i, status.message());
        value = formatted_;
      }
      char* out = buffer_.Reserve(2 * value.size() + 3 + 16);
      if (i > 0) *out++ = kCsvDelimiter;
      out = WriteQuoted(value, out);
      // A NUL byte is the Redshift NULL marker and PostgreSQL refuses it.
      if (out == nullptr) {
        return ValueError(data_set, row, row_index, i,
                          "the value contains a NUL byte, which neither COPY can load");
      }
      buffer_.Commit(out);
    }
    char* out = buffer_.Reserve(1);
    *out++ = kCsvRecordEnd;
    buffer_.Commit(out);
    return absl::OkStatus();
  }

  absl::Status ValueError(const DataSet& data_set, const std::vector<Datum>& row, size_t row_index,
                          size_t column, absl::string_view why) const {
    std::string where;
    if (data_set.key_positions.empty()) {
      where = absl::StrCat("row ", row_index + 1, " of ", data_set.name);
    } else {
      std::string names, values;
      for (size_t position : data_set.key_positions) {
        if (!names.empty()) {
          names += ", ";
          values += ", ";
        }
        names += data_set.columns[position]->name;
        const Datum& datum = row[position];
        if (!datum.has_value()) {
          values += "NULL";
        } else if (datum->size() > kMaxKeyValueInError) {
          absl::StrAppend(&values, datum->substr(0, kMaxKeyValueInError), "...");
        } else {
          values += *datum;
        }
      }
      where = absl::StrCat(data_set.name, " row with key (", names, ")=(", values, ")");
    }
    return absl::InvalidArgumentError(absl::StrCat("column ", data_set.columns[column]->name, " (",
                                                   data_set.columns[column]->type, ") of ", where,
                                                   ": ", why));
  }

  absl::Status CompressBuffer() {
    absl::Status status = compressor_.Write(
        buffer_.view(), [this](absl::string_view bytes) { return part_.Append(bytes); });
    buffer_.Clear();
    return status;
  }

  absl::Status ClosePart(StagedFile* staged) {
    absl::Status status = CompressBuffer();
    if (status.ok()) {
      status = compressor_.Finish([this](absl::string_view bytes) { return part_.Append(bytes); });
    }
    if (status.ok()) status = part_.Commit(options_.fsync);
    if (!status.ok()) return status;
    written_.push_back(part_.path());
    staged->local_paths.push_back(part_.path());
    staged->bytes += part_.size();
    part_sizes_.push_back(part_.size());
    return absl::OkStatus();
  }

  absl::Status WriteManifest(const DataSet& data_set, StagedFile* staged) {
    // Redshift's manifest format (Database Developer Guide, "Using a manifest
    // to specify data files"); S3Uploader rewrites the urls to s3:// URIs.
    nlohmann::json entries = nlohmann::json::array();
    for (size_t i = 0; i < staged->local_paths.size(); ++i) {
      entries.push_back({{"url", staged->local_paths[i]},
                         {"mandatory", true},
                         {"meta", {{"content_length", part_sizes_[i]}}}});
    }
    part_sizes_.clear();
    std::string text = nlohmann::json{{"entries", entries}}.dump();
    StagingFile manifest;
    absl::Status status = manifest.Open(absl::StrCat(base_name_, data_set.name, ".manifest.json"));
    if (status.ok()) status = manifest.Append(text);
    if (status.ok()) status = manifest.Commit(options_.fsync);
    if (!status.ok()) return status;
    written_.push_back(manifest.path());
    staged->local_manifest_path = manifest.path();
    return absl::OkStatus();
  }

  const CsvWriterOptions& options_;
  const ValueFormatter& formatter_;
  Compressor& compressor_;
  std::string base_name_;
  StagingFile part_;
  std::vector<uint64_t> part_sizes_;
  CsvBuffer buffer_;
  std::string formatted_;
  std::vector<std::string> written_;
  bool committed_ = false;
};

// The columns of `batch` named by `names`, or an error naming the one missing.
absl::StatusOr<std::vector<const ColumnDef*>> ColumnsNamed(const Batch& batch,
                                                           const std::vector<std::string>& names) {
  std::vector<const ColumnDef*> columns;
  for (const std::string& name : names) {
    const ColumnDef* found = nullptr;
    for (const ColumnDef& column : batch.columns) {
      if (column.name == name) found = &column;
    }
    if (found == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("key column ", name, " is not among the table's columns"));
    }
    columns.push_back(found);
  }
  return columns;
}

// Positions of the key columns within `columns`, in key order, or empty when
// the table has no key or a key column is absent (the error then shows the
// row's position instead).
std::vector<size_t> KeyPositions(const Batch& batch, const std::vector<const ColumnDef*>& columns) {
  std::vector<size_t> positions;
  for (const std::string& key : batch.key_columns) {
    size_t position = 0;
    while (position < columns.size() && columns[position]->name != key) ++position;
    if (position == columns.size()) return {};
    positions.push_back(position);
  }
  return positions;
}

absl::StatusOr<std::vector<DataSet>> DataSetsOf(const Batch& batch) {
  std::vector<DataSet> data_sets;
  if (!batch.deletes.empty()) {
    DataSet deletes{StagedFile::Role::kDelete, "delete", {}, &batch.deletes, {}};
    if (batch.key_columns.empty()) {
      for (const ColumnDef& column : batch.columns) deletes.columns.push_back(&column);
    } else {
      absl::StatusOr<std::vector<const ColumnDef*>> keys = ColumnsNamed(batch, batch.key_columns);
      if (!keys.ok()) return keys.status();
      deletes.columns = *std::move(keys);
    }
    deletes.key_positions = KeyPositions(batch, deletes.columns);
    data_sets.push_back(std::move(deletes));
  }
  if (!batch.moves.empty()) {
    // The new key, then the old key under prefixed names of the same types.
    DataSet moves{StagedFile::Role::kMove, "move", {}, &batch.moves, {}};
    absl::StatusOr<std::vector<const ColumnDef*>> keys = ColumnsNamed(batch, batch.key_columns);
    if (!keys.ok()) return keys.status();
    moves.owned_columns = std::make_shared<std::vector<ColumnDef>>();
    for (const ColumnDef* key : *keys) {
      ColumnDef from = *key;
      from.name = absl::StrCat(StagedFile::kMoveFromPrefix, key->name);
      moves.owned_columns->push_back(std::move(from));
    }
    moves.columns = *std::move(keys);
    for (const ColumnDef& from : *moves.owned_columns) moves.columns.push_back(&from);
    moves.key_positions = KeyPositions(batch, moves.columns);
    data_sets.push_back(std::move(moves));
  }
  for (size_t group = 0; group < batch.upserts.size(); ++group) {
    const RowGroup& rows = batch.upserts[group];
    if (rows.rows.empty()) continue;
    DataSet upserts{StagedFile::Role::kUpsert, absl::StrCat("upsert-", group), {}, &rows.rows, {}};
    for (int index : rows.columns) {
      if (index < 0 || static_cast<size_t>(index) >= batch.columns.size()) {
        return absl::InvalidArgumentError(absl::StrCat(upserts.name, " names column index ", index,
                                                       " of ", batch.columns.size()));
      }
      upserts.columns.push_back(&batch.columns[index]);
    }
    upserts.key_positions = KeyPositions(batch, upserts.columns);
    data_sets.push_back(std::move(upserts));
  }
  return data_sets;
}

Batch WithoutRows(const Batch& batch) {
  Batch copy;
  copy.schema = batch.schema;
  copy.table = batch.table;
  copy.sequence = batch.sequence;
  copy.table_id = batch.table_id;
  copy.kind = batch.kind;
  copy.applies_with_next = batch.applies_with_next;
  copy.renamed_schema = batch.renamed_schema;
  copy.renamed_table = batch.renamed_table;
  copy.renamed_columns = batch.renamed_columns;
  copy.added_columns = batch.added_columns;
  copy.position = batch.position;
  copy.columns = batch.columns;
  copy.key_columns = batch.key_columns;
  copy.restart_seqs = batch.restart_seqs;
  copy.cascade = batch.cascade;
  copy.bytes = batch.bytes;
  return copy;
}

// FNV-1a: stable across runs and builds, unlike absl::Hash.
uint64_t StableHash(absl::string_view bytes) {
  uint64_t hash = 14695981039346656037ull;
  for (unsigned char byte : bytes) {
    hash ^= byte;
    hash *= 1099511628211ull;
  }
  return hash;
}

void AppendEscaped(absl::string_view name, std::string* out) {
  static constexpr char kHex[] = "0123456789abcdef";
  for (unsigned char byte : name) {
    bool plain = (byte >= 'a' && byte <= 'z') || (byte >= 'A' && byte <= 'Z') ||
                 (byte >= '0' && byte <= '9') || byte == '_';
    if (plain) {
      out->push_back(static_cast<char>(byte));
    } else {
      out->push_back('-');
      out->push_back(kHex[byte >> 4]);
      out->push_back(kHex[byte & 15]);
    }
  }
}

}  // namespace

std::string StagedTableName(absl::string_view schema, absl::string_view table) {
  constexpr size_t kMaxLength = 150;
  constexpr size_t kKeptPrefix = 120;
  std::string name;
  AppendEscaped(schema, &name);
  name.push_back('.');
  AppendEscaped(table, &name);
  if (name.size() <= kMaxLength) return name;
  uint64_t hash = StableHash(name);
  name.resize(kKeptPrefix);
  absl::StrAppend(&name, "-h", absl::StrFormat("%016x", hash));
  return name;
}

CsvWriter::CsvWriter(CsvWriterOptions options) : options_(std::move(options)) {}

absl::StatusOr<StagedBatch> CsvWriter::Write(const Batch& batch) const {
  StagedBatch staged;
  staged.batch = WithoutRows(batch);
  staged.compression = options_.compression;
  if (batch.kind != Batch::Kind::kRows) return staged;

  absl::StatusOr<std::vector<DataSet>> data_sets = DataSetsOf(batch);
  if (!data_sets.ok()) return WithTable(data_sets.status(), batch);
  if (data_sets->empty()) return staged;

  absl::StatusOr<std::unique_ptr<Compressor>> compressor =
      Compressor::Create(options_.compression, options_.compression_level);
  if (!compressor.ok()) return compressor.status();
  static const PostgresTextFormatter kDefaultFormatter;
  const ValueFormatter& formatter =
      options_.formatter != nullptr ? *options_.formatter : kDefaultFormatter;

  BatchStager writer(options_, formatter, **compressor, batch);
  for (const DataSet& data_set : *data_sets) {
    StagedFile file;
    absl::Status status = writer.Write(data_set, &file);
    if (!status.ok()) return WithTable(status, batch);
    staged.files.push_back(std::move(file));
  }
  absl::Status status = writer.Commit();
  if (!status.ok()) return WithTable(status, batch);
  return staged;
}

}  // namespace re_dms
