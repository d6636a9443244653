"""The outbox: the e-mails and SMS the bank would send for invoice links, recorded and never sent.

`send_link` writes one message per contact of a new link, `notify_paid` one per notifier
contact when a link is paid; `messages` reads them back (one merchant's, or all for the
admin API), filtered by recipient and invoice. A full card number never gets here: texts
carry only the order, amount and link.
"""

from __future__ import annotations

from mock_epay.gateway.models import InvoiceLink, OutboxMessage
from mock_epay.gateway.service import Gateway


def _amount(link: InvoiceLink) -> str:
    value = int(link.amount) if float(link.amount).is_integer() else round(link.amount, 2)
    return f"{value} {link.currency}"


def _record(gateway: Gateway, link: InvoiceLink, channel: str, to: str, text: str, url: str) -> OutboxMessage:
    message = OutboxMessage(id=gateway.store.fake.uuid(), client_id=link.client_id, channel=channel, to=to,
                            text=text, invoice_id=link.invoice_id, invoice_url=url,
                            sent_at=gateway.clock.now(), link_id=link.id)
    gateway.store.add_message(message)
    return message


def send_link(gateway: Gateway, link: InvoiceLink, invoice_url: str,
              merchant_name: str) -> list[OutboxMessage]:
    """The e-mail to `recipient_contact` and the SMS to `recipient_contact_sms`, when given."""
    sent = []
    email, phone = link.field("recipient_contact"), link.field("recipient_contact_sms")
    if email:
        text = (f"{merchant_name} invites you to pay order {link.invoice_id} ({_amount(link)}): "
                f"{link.field('description')}. Pay here: {invoice_url}")
        sent.append(_record(gateway, link, "email", email, text, invoice_url))
    if phone:
        text = f"Pay order {link.invoice_id}, {_amount(link)}: {invoice_url}"
        sent.append(_record(gateway, link, "sms", phone, text, invoice_url))
    return sent


def notify_paid(gateway: Gateway, link: InvoiceLink, invoice_url: str) -> list[OutboxMessage]:
    """Tell the notifier contacts (`notifier_contact`, `notifier_contact_sms`) the link was paid."""
    text = f"Order {link.invoice_id} ({_amount(link)}) has been paid."
    sent = []
    for channel, key in (("email", "notifier_contact"), ("sms", "notifier_contact_sms")):
        if to := link.field(key):
            sent.append(_record(gateway, link, channel, to, text, invoice_url))
    return sent


def messages(gateway: Gateway, client_id: str | None, *, recipient: str | None = None,
             invoice_id: str | None = None) -> list[OutboxMessage]:
    """Oldest first; `recipient` matches the address or phone exactly (case-insensitive)."""
    found = gateway.store.messages(client_id)
    if recipient:
        wanted = recipient.strip().lower()
        found = [m for m in found if m.to.lower() == wanted]
    if invoice_id:
        found = [m for m in found if m.invoice_id == invoice_id]
    return found
