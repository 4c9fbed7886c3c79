// Card entry and 3-D Secure, with Stripe.js. Card numbers go from the browser to the
// payment provider only; our server sees the resulting ids (PCI DSS SAQ-A).
(function () {
  "use strict";

  function showError(box, message) {
    box.textContent = message;
    box.hidden = false;
  }

  function setUpCardForm(form) {
    var stripe = Stripe(form.dataset.publishableKey);
    var card = stripe.elements().create("card");
    card.mount(form.querySelector("[data-card-element]"));
    var errorBox = form.querySelector("[data-card-error]");
    var button = form.querySelector("button[type=submit]");
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      button.disabled = true;
      errorBox.hidden = true;
      stripe.confirmCardSetup(form.dataset.clientSecret, {
        payment_method: { card: card, billing_details: { name: form.dataset.cardholder } }
      }).then(function (result) {
        if (result.error || !result.setupIntent || result.setupIntent.status !== "succeeded") {
          showError(errorBox, (result.error && result.error.message) || form.dataset.failedMessage);
          button.disabled = false;
          return;
        }
        form.submit();
      }, function () {
        // Stripe.js could not be reached (network): nothing was saved, the card can be tried again.
        showError(errorBox, form.dataset.failedMessage);
        button.disabled = false;
      });
    });
  }

  function setUpAuthentication(form) {
    var stripe = Stripe(form.dataset.publishableKey);
    var button = form.querySelector("[data-authenticate]");
    button.addEventListener("click", function () {
      button.disabled = true;
      // Whatever the modal's answer, the server asks the provider how the charge ended.
      var check = function () { form.submit(); };
      stripe.confirmCardPayment(form.dataset.clientSecret).then(check, check);
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("form[data-card-setup]").forEach(setUpCardForm);
    document.querySelectorAll("form[data-payment-authentication]").forEach(setUpAuthentication);
  });
})();
