// Progressive enhancement of the form steps. Without this script every
// form works by server round trips; the server stays the only truth. The
// script shows and hides questions whose condition depends on an answer on
// the same page, moves focus to the error summary, and stops a second
// click on a submit button from sending twice.
(function () {
  "use strict";

  function values(form, name) {
    var out = [];
    var els = form.elements.namedItem(name);
    if (!els) return out;
    var list = els.length !== undefined && !els.tagName ? els : [els];
    for (var i = 0; i < list.length; i++) {
      var el = list[i];
      if ((el.type === "radio" || el.type === "checkbox") && !el.checked) continue;
      if (el.closest("[hidden]")) continue; // a hidden question counts as unanswered
      if (el.value !== "") out.push(el.value);
    }
    return out;
  }

  function holds(form, c) {
    if (c.not) return !holds(form, c.not);
    if (c.all) return c.all.every(function (s) { return holds(form, s); });
    if (c.any) return c.any.some(function (s) { return holds(form, s); });
    var vs = values(form, c.field);
    return vs.some(function (v) { return c["in"].indexOf(v) >= 0; });
  }

  function update(form) {
    // Conditions look back only, so one pass in document order settles
    // every cascade.
    var blocks = form.querySelectorAll("[data-visible-if]");
    for (var i = 0; i < blocks.length; i++) {
      var c;
      try { c = JSON.parse(blocks[i].getAttribute("data-visible-if")); } catch (e) { continue; }
      blocks[i].hidden = !holds(form, c);
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    var summary = document.querySelector(".error-summary");
    if (summary) summary.focus();
    var forms = document.querySelectorAll("form[data-form]");
    for (var i = 0; i < forms.length; i++) {
      (function (form) {
        form.addEventListener("change", function () { update(form); });
        update(form);
      })(forms[i]);
    }
    var once = document.querySelectorAll("[data-once]");
    for (var j = 0; j < once.length; j++) {
      once[j].form.addEventListener("submit", function (ev) {
        if (this.getAttribute("data-sent")) { ev.preventDefault(); return; }
        this.setAttribute("data-sent", "1");
      });
    }
  });
})();
