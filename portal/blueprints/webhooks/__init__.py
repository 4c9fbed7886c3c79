"""Events from the payment provider: POST /stripe/webhook."""

from flask import Blueprint, jsonify, request

from portal.blueprints.app_services import services
from portal.extensions import csrf, db
from portal.payments.errors import InvalidWebhook
from portal.payments.provider_events import handle_webhook

blueprint = Blueprint("webhooks", __name__)
csrf.exempt(blueprint)


@blueprint.route("/stripe/webhook", methods=["POST"])
def stripe_webhook():
    context = services().payments
    if context is None:
        return jsonify(error={"code": "not_configured", "message": "card payments are not configured"}), 404
    try:
        outcome = handle_webhook(db.session, context, request.get_data(),
                                         request.headers.get("Stripe-Signature"))
    except InvalidWebhook as error:
        return jsonify(error={"code": error.code, "message": str(error), "field": None}), 400
    return jsonify(outcome=outcome)
