/** @odoo-module **/
// From the inbox to the pipeline: open an email, create an opportunity from it, and
// find the email in the opportunity's chatter.
import { registry } from "@web/core/registry";

const SUBJECT = "Tour request for a quote";
const ROW = `.o_data_row:contains(${SUBJECT})`;

registry.category("web_tour.tours").add("crm_mail_sync_lead_tour", {
    url: "/odoo/action-crm_mail_sync.crm_mail_email_action",
    steps: () => [
        {
            content: "Open the email",
            trigger: `${ROW} td[name=subject]`,
            run: "click",
        },
        {
            content: "Create an opportunity from it",
            trigger: ".o_form_view button[name=action_open_lead_wizard]",
            run: "click",
        },
        {
            content: "Create",
            trigger: ".modal button[name=action_create]",
            run: "click",
        },
        {
            content: "The opportunity opens, named after the email",
            trigger: `.o_form_view .o_field_widget[name=name] textarea:value(${SUBJECT}), .o_form_view .o_field_widget[name=name] input:value(${SUBJECT})`,
        },
        {
            content: "The email is in its chatter (emails render in a shadow root)",
            trigger: ".o-mail-Chatter .o-mail-Message .o-mail-Message-body > div:shadow p:contains(twelve licences)",
        },
    ],
});
