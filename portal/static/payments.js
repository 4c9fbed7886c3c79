// Card entry and 3-D Secure, with Stripe.js. Card numbers go from the browser to the
// payment provider only; our server sees the resulting ids (PCI DSS SAQ-A).
(function () {
  "use strict";

  function showError(box, message) {
    box.textContent = message;
    box.hidden = false;
  }

  // Stripe.js writes its own messages (an incomplete card number...) in the page's language.
  function stripeFor(form) {
    return Stripe(form.dataset.publishableKey, { locale: document.documentElement.lang || "auto" });
  }

  // The fields beside the card are checked before the card goes to the provider: a missing
  // e-mail address must not cost the payer typing the card again.
  function firstInvalidField(form) {
    var fields = form.querySelectorAll("input[data-check-before-card]");
    for (var i = 0; i < fields.length; i++) {
      if (!fields[i].checkValidity()) {
        return fields[i];
      }
    }
    return null;
  }

  function setUpCardForm(form) {
    var stripe = stripeFor(form);
    var card = stripe.elements().create("card");
    card.mount(form.querySelector("[data-card-element]"));
    var errorBox = form.querySelector("[data-card-error]");
    var button = form.querySelector("button[type=submit]");
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      errorBox.hidden = true;
      var invalid = firstInvalidField(form);
      if (invalid) {
        showError(errorBox, invalid.dataset.invalidMessage || invalid.validationMessage);
        invalid.focus();
        return;
      }
      button.disabled = true;
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
    var stripe = stripeFor(form);
    var button = form.querySelector("[data-authenticate]");
    button.addEventListener("click", function () {
      button.disabled = true;
      // Whatever the modal's answer, the server asks the provider how the charge ended.
      var check = function () { form.submit(); };
      stripe.confirmCardPayment(form.dataset.clientSecret).then(check, check);
    });
  }

  // The Pay button names the card it charges. When another card is ticked the button says so,
  // and the form tells the server which card it named: the server charges no other.
  function setUpCardChoice(form) {
    var button = form.querySelector("[data-pay]");
    var named = form.querySelector("[data-named-card]");
    var radios = form.querySelectorAll("input[name=card][data-pay-label]");
    if (!button || !named) {
      return;
    }
    function nameTheTickedCard() {
      radios.forEach(function (radio) {
        if (radio.checked) {
          button.textContent = radio.dataset.payLabel;
          named.value = radio.value;
        }
      });
    }
    radios.forEach(function (radio) { radio.addEventListener("change", nameTheTickedCard); });
    // Back to this page from history, the browser may tick the card chosen before.
    window.addEventListener("pageshow", nameTheTickedCard);
    nameTheTickedCard();
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("form[data-card-setup]").forEach(setUpCardForm);
    document.querySelectorAll("form[data-payment-authentication]").forEach(setUpAuthentication);
    document.querySelectorAll("form[data-pay-form]").forEach(setUpCardChoice);
  });
})();
