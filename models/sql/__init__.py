"""Text-to-SQL (paper 3, ToolSQL, arXiv 2408.16991): safe read-only execution of untrusted SQL (`safe_exec`), the
official execution-accuracy semantics (`execution_match`, `hardness`), Spider-format files (`spider`), the
function-call grammar (`grammar`, `render`, `from_spider`), the two tools (`retriever`, `detector`), the
mismatch-set builder (`mismatch`) and the inspect-and-regenerate agent (`agent`)."""
