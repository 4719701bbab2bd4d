// Sort a table.sortable by the clicked column (numbers numerically); click again to reverse.
document.addEventListener("click", function (event) {
  const th = event.target.closest("table.sortable th");
  if (!th) return;
  const table = th.closest("table");
  const body = table.tBodies[0];
  const col = Array.from(th.parentNode.children).indexOf(th);
  const asc = th.dataset.order !== "asc";
  th.dataset.order = asc ? "asc" : "desc";
  const key = (row) => {
    const text = row.children[col].textContent.trim();
    const num = parseFloat(text);
    return isNaN(num) ? text : num;
  };
  const rows = Array.from(body.rows).sort(function (a, b) {
    const x = key(a), y = key(b);
    const cmp = typeof x === "number" && typeof y === "number" ? x - y : String(x).localeCompare(String(y));
    return asc ? cmp : -cmp;
  });
  rows.forEach((row) => body.appendChild(row));
});
