/** @odoo-module **/
// The inbox a user works every day: open an unread email (it becomes read), star
// it, link it to a contact, reply, and find the reply on the contact's chatter.
import { registry } from "@web/core/registry";

const SUBJECT = "Tour question about delivery";
const ROW = `.o_data_row:contains(${SUBJECT})`;

registry.category("web_tour.tours").add("crm_mail_sync_inbox_tour", {
    url: "/odoo/action-crm_mail_sync.crm_mail_email_action",
    steps: () => [
        {
            content: "The new email is unread: shown in bold",
            trigger: `${ROW}.fw-bold`,
        },
        {
            content: "The folder list shows the account's folders",
            trigger: ".o_search_panel:contains(INBOX)",
        },
        {
            content: "Open it",
            trigger: `${ROW} td[name=subject]`,
            run: "click",
        },
        {
            content: "The body is shown, sandboxed",
            trigger: ".o_form_view .o_field_widget[name=body_display] iframe",
        },
        {
            content: "Star it",
            trigger: ".o_form_view .o_field_widget[name=is_starred] .fa-star-o",
            run: "click",
        },
        {
            content: "Starred",
            trigger: ".o_form_view .o_field_widget[name=is_starred] .fa-star",
        },
        {
            content: "Link it to a contact",
            trigger: ".o_form_view button[name=action_open_link_wizard]",
            run: "click",
        },
        {
            content: "Choose the contact model",
            trigger: ".modal .o_field_widget[name=target] select",
            run: "select res.partner",
        },
        {
            content: "Search the contact",
            trigger: ".modal .o_field_widget[name=target] input",
            run: "edit Dana Tour",
        },
        {
            content: "Pick it",
            trigger: ".ui-autocomplete .dropdown-item:contains(Dana Tour)",
            run: "click",
        },
        {
            content: "Link",
            trigger: ".modal button[name=action_link]",
            run: "click",
        },
        {
            content: "The link is listed on the email",
            trigger: ".o_form_view .o_field_widget[name=link_ids] .o_data_row:contains(Dana Tour)",
        },
        {
            content: "Back to the inbox",
            trigger: ".o_breadcrumb .breadcrumb-item a:contains(Inbox)",
            run: "click",
        },
        {
            content: "Read now: no longer bold, and starred",
            trigger: `${ROW}:not(.fw-bold) .o_field_widget[name=is_starred] .fa-star`,
        },
        {
            content: "Open it again",
            trigger: `${ROW} td[name=subject]`,
            run: "click",
        },
        {
            content: "Reply",
            trigger: ".o_form_view button[name=action_reply]",
            run: "click",
        },
        {
            content: "The reply quotes the original",
            trigger: ".modal .o_field_widget[name=body] blockquote:contains(When will my order arrive)",
        },
        {
            content: "Write the answer",
            trigger: ".modal .o_field_widget[name=body] .odoo-editor-editable > p:first-child",
            run: "editor Thanks for asking: it ships tomorrow.",
        },
        {
            content: "Send",
            trigger: ".modal-footer button[name=action_send_mail]",
            run: "click",
        },
        {
            content: "The composer is closed",
            trigger: "body:not(:has(.modal))",
        },
        {
            content: "Open the contact",
            trigger: ".o_form_view .o_field_widget[name=link_ids] .o_data_row:contains(Dana Tour) button[name=action_open_record]",
            run: "click",
        },
        {
            content: "The reply is on the contact's chatter (emails render in a shadow root)",
            trigger: ".o-mail-Chatter .o-mail-Message:contains(Re: Tour question) .o-mail-Message-body > div:shadow p:contains(it ships tomorrow)",
        },
    ],
});
