// Behaviour the pages declare with data- attributes, so that no page needs inline script
// (the Content-Security-Policy allows none, see portal/blueprints/security_headers.py).

// <form data-reset-after-success>: emptied once htmx has posted it successfully (a message sent).
document.addEventListener("htmx:afterRequest", function (event) {
  var form = event.detail.elt;
  if (event.detail.successful && form.matches && form.matches("form[data-reset-after-success]")) {
    form.reset();
  }
});
