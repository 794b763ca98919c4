/** @odoo-module **/
// A user who is not an administrator connects their own mailbox with Google OAuth:
// Connect, the provider's consent (the test provider on loopback, which answers at
// once when told to: a tour cannot act on another origin's page), back on the form,
// connected.
import { registry } from "@web/core/registry";

registry.category("web_tour.tours").add("crm_mail_sync_oauth_consent", {
    steps: () => [
        {
            content: "The account is not connected yet",
            trigger: ".o_form_view .o_statusbar_status button.o_arrow_button_current:contains(Not Configured)",
        },
        {
            content: "Connect with Google",
            trigger: ".o_form_view button.o_crm_mail_oauth_connect",
            run: "click",
        },
        {
            content: "Back on the account's form: connected",
            trigger: ".o_form_view .o_statusbar_status button.o_arrow_button_current:contains(Connected)",
        },
        {
            content: "Signed in, and no Connect button any more",
            trigger: ".o_form_view:not(:has(button.o_crm_mail_oauth_connect)) .o_field_widget[name=oauth_connected] input:checked",
        },
    ],
});
