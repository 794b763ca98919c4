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

        def shot(name):
            page.wait_for_timeout(1200)  # let notifications and images settle
            page.screenshot(path=os.path.join(OUT, name))
            print("wrote", name)

        page.goto(f"{args.url}/odoo/action-crm_mail_sync.crm_mail_email_action")
        page.wait_for_selector(".o_data_row")
        shot("inbox.png")

        page.click(".o_data_row:nth-child(3) td[name=subject]")
        page.wait_for_selector(".o_form_view .o_field_widget[name=body_display]")
        shot("email.png")

        page.click(".o_form_view button[name=action_reply]")
        page.wait_for_selector(".modal .o_field_widget[name=body]")
        shot("compose.png")
        page.keyboard.press("Escape")

        page.goto(f"{args.url}/odoo/action-crm_mail_sync.crm_mail_account_action")
        page.wait_for_selector(".o_data_row")
        page.click(".o_data_row:first-child td[name=name]")
        page.wait_for_selector(".o_form_view")
        shot("account.png")

        page.goto(f"{args.url}/odoo/action-crm_mail_sync.crm_mail_case_action")
        page.wait_for_selector(".o_kanban_record, .o_data_row")
        shot("cases.png")
        browser.close()


if __name__ == "__main__":
    main()
