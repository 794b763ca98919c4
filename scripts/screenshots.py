"""Take the README's screenshots from a running demo (scripts/run-demo).

    pip install playwright   # the Python driver only: it uses Debian's Chromium
    python3 scripts/screenshots.py [--url http://127.0.0.1:8069] [--browser /usr/bin/chromium]

Writes PNG files into crm_mail_sync/static/description/.
"""

import argparse
import os

from playwright.sync_api import sync_playwright

OUT = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
    "crm_mail_sync",
    "static",
    "description",
)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", default="http://127.0.0.1:8069")
    parser.add_argument("--browser", default="/usr/bin/chromium")
    parser.add_argument("--login", default="admin")
    parser.add_argument("--password", default="admin")
    args = parser.parse_args()
    with sync_playwright() as play:
        browser = play.chromium.launch(executable_path=args.browser, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1440, "height": 900})
        page.goto(f"{args.url}/web/login")
        page.fill("input[name=login]", args.login)
        page.fill("input[name=password]", args.password)
        page.click("button[type=submit]")
        page.wait_for_selector(".o_main_navbar")

        def rpc(model, method, *params, **kwargs):
            response = page.request.post(
                f"{args.url}/web/dataset/call_kw/{model}/{method}",
                data={
                    "jsonrpc": "2.0",
                    "method": "call",
                    "params": {"model": model, "method": method, "args": params, "kwargs": kwargs},
                },
            )
            return response.json()["result"]

        def demo_id(name):
            """The id of the demo record crm_mail_sync.<name>."""
            rows = rpc(
                "ir.model.data",
                "search_read",
                [("module", "=", "crm_mail_sync"), ("name", "=", name)],
                ["res_id"],
            )
            return rows[0]["res_id"]

        def open_form(action, res_id, menu=None):
            # Wide enough for Odoo to put the chatter beside the form.
            page.set_viewport_size({"width": 1920, "height": 1080})
            if menu:
                # An action without a path of its own shows its app's menu bar only
                # when the URL names the menu (Odoo keeps menu_id from the old URLs).
                module, name = menu.split(".")
                menu_id = rpc(
                    "ir.model.data",
                    "search_read",
                    [("module", "=", module), ("name", "=", name)],
                    ["res_id"],
                )[0]["res_id"]
                page.goto(
                    f"{args.url}/web#action={action}&id={res_id}&view_type=form&menu_id={menu_id}"
                )
            else:
                page.goto(f"{args.url}/odoo/action-{action}/{res_id}")
            page.wait_for_selector(".o_form_view .o-mail-Message")

        def shot(name):
            page.wait_for_timeout(1200)  # let notifications and images settle
            page.screenshot(path=os.path.join(OUT, name))
            print("wrote", name)

        page.goto(f"{args.url}/odoo/action-crm_mail_sync.crm_mail_email_action")
        page.wait_for_selector(".o_data_row")
        shot("inbox.png")

        # A demo contact's email to sales@: linked to her, her company, her company's
        # opportunity and the lead it opened.
        page.click(".o_data_row td[name=subject]:has-text('Scanners for our Lyon depot')")
        page.wait_for_selector(".o_form_view .o_field_widget[name=body_display]")
        shot("email.png")

        page.click(".o_form_view button[name=action_reply]")
        page.wait_for_selector(".modal .o_field_widget[name=body]")
        shot("compose.png")
        page.keyboard.press("Escape")

        # Conversations: one row per thread; the thread of a demo customer's request
        # and the support team's answer, oldest first, in the email's Conversation tab.
        page.goto(f"{args.url}/odoo/action-crm_mail_sync.crm_mail_conversation_action")
        page.wait_for_selector(".o_data_row")
        page.click(".o_data_row td[name=subject]:has-text('Cannot open the maintenance')")
        page.click(".o_data_row td[name=subject]:has-text('Re: Cannot open the maintenance')")
        page.click(".o_form_view .o_notebook .nav-link:has-text('Conversation')")
        page.wait_for_selector(".o_form_view .o_field_widget[name=conversation_html] iframe")
        shot("conversation.png")

        support = demo_id("demo_account_support")
        page.goto(f"{args.url}/odoo/action-crm_mail_sync.crm_mail_account_action/{support}")
        page.wait_for_selector(".o_form_view")
        shot("account.png")

        # The case board: cases of the demo mail in several stages, with customers,
        # and this week's unanswered one marked overdue.
        page.goto(f"{args.url}/odoo/action-crm_mail_sync.crm_mail_case_action")
        page.wait_for_selector(".o_kanban_record, .o_data_row")
        shot("cases.png")

        # A demo contact's chatter: the email history the first sync linked to it.
        open_form("contacts.action_contacts", demo_id("demo_partner_hannah_fischer"))
        shot("contact.png")

        # A lead that an email to sales@ opened, the email in its chatter.
        leads = rpc(
            "crm.lead",
            "search_read",
            [("name", "=", "Quote for 200 handheld scanners")],
            ["id"],
            limit=1,
        )
        if leads:
            open_form("crm.crm_lead_action_pipeline", leads[0]["id"], "crm.crm_menu_root")
            shot("lead.png")
        else:
            print("no lead from sales@ in this demo: lead.png not taken")
        browser.close()


if __name__ == "__main__":
    main()
