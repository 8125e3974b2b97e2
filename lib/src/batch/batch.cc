#include "re_dms/batch.h"

namespace re_dms {

size_t Batch::row_count() const {
  size_t rows = deletes.size() + moves.size();
  for (const RowGroup& group : upserts) rows += group.rows.size();
  return rows;
}

}  // namespace re_dms
