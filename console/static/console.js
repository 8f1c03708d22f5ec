// kuflow-router console: local times, confirmations, auto-refresh. No framework, no build.
"use strict";
document.querySelectorAll("time[datetime]").forEach((el) => {
  const when = new Date(el.getAttribute("datetime"));
  if (!isNaN(when)) {
    el.textContent = when.toLocaleString();
    el.title = el.getAttribute("datetime");
  }
});
document.querySelectorAll("form[data-confirm]").forEach((form) => {
  form.addEventListener("submit", (e) => {
    if (!window.confirm(form.dataset.confirm)) e.preventDefault();
  });
});
const refresh = document.querySelector("[data-auto-refresh]");
if (refresh && refresh.checked) {
  window.setTimeout(() => window.location.reload(), 5000);
}
if (refresh) {
  refresh.addEventListener("change", () => refresh.form.requestSubmit());
}
